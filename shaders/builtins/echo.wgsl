// echo: returns the message, with how many this actor has seen and what the context says.
fn handle(ctx: ptr<function, RingContext>, state: ptr<function, State>, msg: Request) -> Reply {
  (*state).count += 1u;
  return Reply(msg.seq, msg.value, msg.data, (*state).count, (*ctx).actor, (*ctx).message_id);
}
