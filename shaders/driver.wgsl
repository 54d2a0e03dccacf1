// ringshard driver: one invocation per actor segment of the batch. An actor's messages
// run one after another in arrival order inside its invocation; different actors run in
// parallel. State (and the timer table, for a kernel with timers) is loaded once per
// segment and stored once at its end.

@compute @workgroup_size({{WORKGROUP_SIZE}})
fn rs_main(@builtin(global_invocation_id) rs_gid: vec3<u32>) {
  let range = RS_INDEX_RANGES + RS_KERNEL_ID * 2u;
  if (rs_gid.x >= rs_index[range + 1u]) { return; }
  let seg = RS_INDEX_SEGMENTS + (rs_index[range] + rs_gid.x) * 3u;
  let slot = rs_index[seg];
  let first = rs_index[seg + 1u];
  let count = rs_index[seg + 2u];
  let base_id = rs_index[RS_INDEX_BASE_ID];
  let state_base = slot * RS_STATE_STRIDE;
  var state = rs_load_state(state_base);
  rs_timers_load(state_base);
  for (var i = 0u; i < count; i++) {
    let rec = rs_index[RS_INDEX_ORDER + first + i];
    let base = rec * RS_RECORD_WORDS;
    var ctx = {{CONTEXT_TYPE}}(
      rs_records[base + RS_REQ_TARGET],  // the actor's id (the grouper put it there)
      base_id + rec,
      rs_records[base + RS_REQ_CORRELATION],
      rs_records[base + RS_REQ_SOURCE],
      rs_records[base + RS_REQ_TENANT],
      rs_records[base + RS_REQ_PRINCIPAL],
      vec2<u32>(rs_records[base + RS_REQ_HLC_HI], rs_records[base + RS_REQ_HLC_LO]),
      0u,{{ROLES_ARG}}
      0u,
    );
    let op = rs_records[base + RS_REQ_KERNEL_OP] & 0xffffu;
    let out = RS_RESULT_PAYLOADS + rec * RS_RESULT_WORDS;
    var status = 0u;
    rs_outbox_at = RS_OUTBOX + rec * RS_OUTBOX_WORDS;
    rs_send_count = 0u;
    // Messages send and arm timers; init and SET_TIMER arm timers; nothing else does.
    rs_send_limit = select(0u, RS_MAX_SENDS, op == RS_OP_MESSAGE || op == RS_OP_INIT || op == RS_OP_SET_TIMER);
    rs_sends_open = op == RS_OP_MESSAGE;
    let timers_before = rs_timers;
    switch op {
      case RS_OP_MESSAGE: {
        // A message that spends its loop budget, or is refused, fails alone: its state
        // changes are undone (and its sends and timers dropped, below).
        let before = state;
        rs_refill_budget();
        rs_store_reply(out, {{HANDLE_CALL}}(&ctx, &state, rs_load_request(base + RS_REQ_HEADER_WORDS)));
        status = select(min(ctx.status, RS_MAX_USER_STATUS), RS_STATUS_FORBIDDEN, ctx.status == RS_STATUS_FORBIDDEN);
        if (status == RS_STATUS_FORBIDDEN) {
          state = before;
        }
        if (rs_budget_spent) {
          state = before;
          status = RS_STATUS_BUDGET;
        }
      }
      case RS_OP_INIT: {
        var fresh: State;
        state = fresh;
        rs_timers_clear();
        rs_refill_budget();
        {{INIT_CALL}}
        if (rs_budget_spent) {
          state = fresh;
          rs_timers_clear();
          rs_send_count = 0u;
          status = RS_STATUS_BUDGET;
        }
      }
      case RS_OP_SHUTDOWN: {
        let before = state;
        rs_refill_budget();
        {{SHUTDOWN_CALL}}
        if (rs_budget_spent) {
          state = before;
        }
        rs_store_state_result(out, state);
        rs_timers_result(out);
      }
      case RS_OP_SNAPSHOT, RS_OP_EXPORT: {
        rs_store_state_result(out, state);
        rs_timers_result(out);
      }
      case RS_OP_IMPORT: {
        // A part of the arriving state (timer table included): raw words from offset `principal` on.
        let at = rs_records[base + RS_REQ_PRINCIPAL];
        for (var w = 0u; w < RS_RECORD_WORDS - RS_REQ_HEADER_WORDS && at + w < RS_STATE_WORDS; w++) {
          rs_states[state_base + at + w] = rs_records[base + RS_REQ_HEADER_WORDS + w];
        }
        state = rs_load_state(state_base);
        rs_timers_load(state_base);
      }
      case RS_OP_TIMER: {
        // Runs on_timer if the timer is still armed for this due time (see rs_fire).
        status = rs_fire(&ctx, &state, base);
      }
      case RS_OP_SET_TIMER: {
        status = rs_set_timer_record(&ctx, base);
      }
      case RS_OP_CLEAR_TIMER: {
        rs_clear_timer_record(base);
      }
      default: {
        status = RS_STATUS_REJECTED;
      }
    }
    // A message that failed arms, clears and sends nothing (init: above; a timer's fire
    // keeps its own rules: rs_fire).
    if (status != 0u && op != RS_OP_TIMER && op != RS_OP_INIT) {
      rs_timers = timers_before;
      rs_send_count = 0u;
    }
    rs_results[rec] = status;
    if (RS_OUTBOX_WORDS > 0u) {
      rs_results[rs_outbox_at] = rs_send_count;
    }
  }
  rs_store_state(state_base, state);
  rs_timers_store(state_base);
}
