// counter: adds to a per-actor total and counts messages.
fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).total += msg.add;
  (*state).count += 1u;
  return Reply((*state).total, (*state).count);
}
