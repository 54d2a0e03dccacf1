// stats: streaming statistics per key (a user, a sensor): count, mean and variance by
// Welford's method, min and max, over batches of up to 8 f32 samples per message.
const STATS_MAX_SAMPLES: u32 = 8u;
const F32_MAX: f32 = 0x1.fffffep+127f; // the largest finite f32

fn init(ctx: ptr<function, RingContext>, state: ptr<function, State>) {
  (*state).min = F32_MAX;
  (*state).max = -F32_MAX;
}

fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  var samples = msg.samples;
  let n = min(msg.n, STATS_MAX_SAMPLES);
  for (var i = 0u; i < n; i++) {
    let x = samples[i];
    (*state).count += 1u;
    let delta = x - (*state).mean;
    (*state).mean += delta / f32((*state).count);
    (*state).m2 += delta * (x - (*state).mean);
    (*state).min = min((*state).min, x);
    (*state).max = max((*state).max, x);
  }
  var variance = 0.0;
  if ((*state).count > 1u) {
    variance = (*state).m2 / f32((*state).count - 1u);
  }
  return Reply((*state).count, (*state).mean, variance, (*state).min, (*state).max);
}
