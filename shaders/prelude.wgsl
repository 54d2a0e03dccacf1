// ringshard prelude: the bindings and the context every handler receives.
// Names starting with rs_ or RS_ belong to ringshard; kernel code may not use them, which
// is what keeps one actor's handler away from other actors' state.

// What a handler knows about the message it is handling.
struct RingContext {
  actor: u32,        // this actor's id: cluster-wide, stable while it lives (it may move)
  message_id: u32,   // the message's index in the shard's request ring
  correlation: u32,  // 0 for tell, else the ask's correlation id
  source: u32,       // sending actor id, 0xffffffffu for messages from outside
  tenant: u32,       // tenant id, checked by the coordinator
  principal: u32,    // principal id, checked by the coordinator
  hlc: vec2<u32>,    // hybrid logical clock: (wall ms >> 16, (wall ms & 0xffff) << 16 | logical)
  status: u32,       // set to a non-zero code to fail this message (ask rejects with it)
  timer_late_ms: u32, // in on_timer: how late the timer fires, in ms; 0 elsewhere
}

// What handle_secure receives: RingContext plus the principal's role bits (ROLE_<NAME>).
struct SecureRingContext {
  actor: u32,
  message_id: u32,
  correlation: u32,
  source: u32,
  tenant: u32,
  principal: u32,
  hlc: vec2<u32>,
  status: u32,       // STATUS_FORBIDDEN refuses the message (ask rejects with ERR_RINGSHARD_FORBIDDEN)
  roles: u32,        // bit masks: (*ctx).roles & ROLE_TELLER
  timer_late_ms: u32,
}

@group(0) @binding(0) var<storage, read> rs_records: array<u32>;
@group(0) @binding(1) var<storage, read> rs_index: array<u32>;
@group(0) @binding(2) var<storage, read_write> rs_results: array<u32>;
@group(0) @binding(3) var<storage, read_write> rs_states: array<u32>;

// Loop budget (src/kernels/loop-budget.ts): every loop of kernel code calls this at the
// top of its body; the driver refills the budget before each message and hook.
var<private> rs_budget: u32;
var<private> rs_budget_spent: bool;
fn rs_loop_tick() -> bool {
  if (rs_budget == 0u) {
    rs_budget_spent = true;
    return true;
  }
  rs_budget -= 1u;
  return false;
}
// K2K: where the current record's outbox is, how many entries it holds so far, how many
// it may hold (sends and timer notices), and whether send_<name> may send (messages and
// on_timer only: hooks may arm timers but not send).
var<private> rs_outbox_at: u32;
var<private> rs_send_count: u32;
var<private> rs_send_limit: u32;
var<private> rs_sends_open: bool;

fn rs_refill_budget() {
  rs_budget = RS_MAX_LOOP_ITERATIONS;
  rs_budget_spent = false;
}
