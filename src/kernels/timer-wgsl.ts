/**
 * The WGSL of timers (the rules of src/layout/timer-table.ts, which the TS reference runs):
 * the private copy of the actor's timer table the driver loads and stores with its state,
 * set_timer and clear_timer for handlers and hooks, and the TIMER, SET_TIMER and
 * CLEAR_TIMER records. A kernel without on_timer gets empty stand-ins, so the driver is
 * the same text for every kernel.
 *
 * Due times are 64-bit wall-clock milliseconds as vec2<u32>(hi, lo), from a record's
 * hybrid clock stamp: (hlc.x >> 16, hlc.x << 16 | hlc.y >> 16).
 */
import { TIMERS_FIELD, TIMER_ENTRY_WORDS, TimerEntry, TimerNotice, TimerRecord } from '../layout/timer-table.ts';
import { TIMER_NOTICE } from '../layout/record.ts';

/** Everything timers add to a kernel's module; `timers` 0 gives the stand-ins. */
export function timerFunctions(timers: number, userStateWords: number, contextType: string): string {
  const words = Math.max(1, timers * TIMER_ENTRY_WORDS);
  const head = [
    `const RS_MAX_TIMERS: u32 = ${timers}u;`,
    `var<private> rs_timers: array<u32, ${words}>;`,
  ];
  if (timers === 0) {
    return [
      ...head,
      'fn rs_timers_load(state_base: u32) {}',
      'fn rs_timers_store(state_base: u32) {}',
      'fn rs_timers_clear() {}',
      'fn rs_timers_result(out: u32) {}',
      `fn rs_fire(ctx: ptr<function, ${contextType}>, state: ptr<function, State>, base: u32) -> u32 { return RS_STATUS_REJECTED; }`,
      `fn rs_set_timer_record(ctx: ptr<function, ${contextType}>, base: u32) -> u32 { return RS_STATUS_REJECTED; }`,
      'fn rs_clear_timer_record(base: u32) {}',
    ].join('\n');
  }
  const E = TIMER_ENTRY_WORDS;
  const at = userStateWords; // the table follows the state's fields (field '${TIMERS_FIELD}')
  const payload = (word: number) => `rs_records[base + RS_REQ_HEADER_WORDS + ${word}u]`;
  return `${head.join('\n')}
// The timer table ('${TIMERS_FIELD}') follows the state's own fields in the actor's slot.
fn rs_timers_load(state_base: u32) {
  for (var w = 0u; w < ${words}u; w++) { rs_timers[w] = rs_states[state_base + ${at}u + w]; }
}
fn rs_timers_store(state_base: u32) {
  for (var w = 0u; w < ${words}u; w++) { rs_states[state_base + ${at}u + w] = rs_timers[w]; }
}
fn rs_timers_clear() {
  for (var w = 0u; w < ${words}u; w++) { rs_timers[w] = 0u; }
}
fn rs_timers_result(out: u32) {
  for (var w = 0u; w < ${words}u; w++) { rs_results[out + ${at}u + w] = rs_timers[w]; }
}
fn rs_ms_of(hlc: vec2<u32>) -> vec2<u32> {
  return vec2<u32>(hlc.x >> 16u, (hlc.x << 16u) | (hlc.y >> 16u));
}
fn rs_ms_add(a: vec2<u32>, b: u32) -> vec2<u32> {
  let lo = a.y + b;
  return vec2<u32>(a.x + select(0u, 1u, lo < a.y), lo);
}
fn rs_ms_le(a: vec2<u32>, b: vec2<u32>) -> bool {
  return a.x < b.x || (a.x == b.x && a.y <= b.y);
}
// now - due in ms, clamped to a u32 (0 when not late).
fn rs_ms_late(due: vec2<u32>, now: vec2<u32>) -> u32 {
  if (rs_ms_le(now, due)) { return 0u; }
  let borrow = select(0u, 1u, now.y < due.y);
  if (now.x - due.x - borrow != 0u) { return 0xffffffffu; }
  return now.y - due.y;
}
// The entry holding timer \`id\` (its word ${TimerEntry.notId} is ~id), or RS_MAX_TIMERS.
fn rs_timer_entry(id: u32) -> u32 {
  for (var k = 0u; k < RS_MAX_TIMERS; k++) {
    if (rs_timers[k * ${E}u + ${TimerEntry.notId}u] == ~id) { return k; }
  }
  return RS_MAX_TIMERS;
}
// Tells the coordinator's timer service when entry k is due (an outbox entry, not a send).
fn rs_timer_notice(k: u32) {
  let at = rs_outbox_at + 1u + rs_send_count * RS_SEND_WORDS;
  rs_results[at] = ~rs_timers[k * ${E}u + ${TimerEntry.notId}u];
  rs_results[at + 1u] = ${TIMER_NOTICE}u;
  rs_results[at + 2u + ${TimerNotice.entry}u] = k;
  rs_results[at + 2u + ${TimerNotice.dueHi}u] = rs_timers[k * ${E}u + ${TimerEntry.dueHi}u];
  rs_results[at + 2u + ${TimerNotice.dueLo}u] = rs_timers[k * ${E}u + ${TimerEntry.dueLo}u];
  rs_send_count += 1u;
}
fn rs_timer_arm(id: u32, due: vec2<u32>, every: u32) -> bool {
  if (id == 0xffffffffu || rs_send_count >= rs_send_limit) { return false; }
  var k = rs_timer_entry(id);
  for (var j = 0u; j < RS_MAX_TIMERS && k == RS_MAX_TIMERS; j++) {
    if (rs_timers[j * ${E}u + ${TimerEntry.notId}u] == 0u) { k = j; }
  }
  if (k == RS_MAX_TIMERS) { return false; }
  rs_timers[k * ${E}u + ${TimerEntry.notId}u] = ~id;
  rs_timers[k * ${E}u + ${TimerEntry.dueHi}u] = due.x;
  rs_timers[k * ${E}u + ${TimerEntry.dueLo}u] = due.y;
  rs_timers[k * ${E}u + ${TimerEntry.every}u] = every;
  rs_timer_notice(k);
  return true;
}
// Arms (or re-arms) timer \`id\` to fire due_ms after this record's time, then every
// every_ms (0: once). False when the actor holds RS_MAX_TIMERS timers, or the outbox is full.
fn set_timer(ctx: ptr<function, ${contextType}>, id: u32, due_ms: u32, every_ms: u32) -> bool {
  return rs_timer_arm(id, rs_ms_add(rs_ms_of((*ctx).hlc), due_ms), every_ms);
}
// Clears timer \`id\`; false when none was armed.
fn clear_timer(ctx: ptr<function, ${contextType}>, id: u32) -> bool {
  let k = rs_timer_entry(id);
  if (k == RS_MAX_TIMERS) { return false; }
  for (var w = 0u; w < ${E}u; w++) { rs_timers[k * ${E}u + w] = 0u; }
  return true;
}
// A TIMER record: on_timer runs if the table still holds the timer for this due time.
// The fire is used up even when on_timer fails: the timer advances first (cleared, or
// its next due time: every after this one, or every from now when that is past).
fn rs_fire(ctx: ptr<function, ${contextType}>, state: ptr<function, State>, base: u32) -> u32 {
  let id = ${payload(TimerRecord.id)};
  let due = vec2<u32>(${payload(TimerRecord.dueHi)}, ${payload(TimerRecord.dueLo)});
  let k = rs_timer_entry(id);
  if (k == RS_MAX_TIMERS || rs_timers[k * ${E}u + ${TimerEntry.dueHi}u] != due.x || rs_timers[k * ${E}u + ${TimerEntry.dueLo}u] != due.y) {
    return RS_STATUS_TIMER_NOT_DUE;
  }
  let now = rs_ms_of((*ctx).hlc);
  (*ctx).timer_late_ms = rs_ms_late(due, now);
  let every = rs_timers[k * ${E}u + ${TimerEntry.every}u];
  if (every == 0u) {
    for (var w = 0u; w < ${E}u; w++) { rs_timers[k * ${E}u + w] = 0u; }
  } else {
    var next = rs_ms_add(due, every);
    if (rs_ms_le(next, now)) { next = rs_ms_add(now, every); }
    rs_timers[k * ${E}u + ${TimerEntry.dueHi}u] = next.x;
    rs_timers[k * ${E}u + ${TimerEntry.dueLo}u] = next.y;
  }
  let advanced = rs_timers;
  let before = *state;
  // One outbox entry stays free for the advanced timer's notice.
  rs_send_limit = RS_MAX_SENDS - 1u;
  rs_sends_open = true;
  rs_refill_budget();
  on_timer(ctx, state, id);
  var status = select(min((*ctx).status, RS_MAX_USER_STATUS), RS_STATUS_FORBIDDEN, (*ctx).status == RS_STATUS_FORBIDDEN);
  if (rs_budget_spent) { status = RS_STATUS_BUDGET; }
  if (status == RS_STATUS_FORBIDDEN || status == RS_STATUS_BUDGET) { *state = before; }
  if (status != 0u) {
    rs_timers = advanced;
    rs_send_count = 0u;
  }
  if (rs_timers[k * ${E}u + ${TimerEntry.notId}u] != 0u) {
    rs_timer_notice(k);
  }
  return status;
}
// SET_TIMER (ref.setTimer): payload [id, due ms from the record's time, every ms].
fn rs_set_timer_record(ctx: ptr<function, ${contextType}>, base: u32) -> u32 {
  let due = rs_ms_add(rs_ms_of((*ctx).hlc), ${payload(TimerRecord.dueMs)});
  if (rs_timer_arm(${payload(TimerRecord.id)}, due, ${payload(TimerRecord.everyMs)})) { return 0u; }
  return RS_STATUS_TIMER_NOT_DUE;
}
// CLEAR_TIMER (ref.clearTimer): payload [id].
fn rs_clear_timer_record(base: u32) {
  let k = rs_timer_entry(${payload(TimerRecord.id)});
  if (k == RS_MAX_TIMERS) { return; }
  for (var w = 0u; w < ${E}u; w++) { rs_timers[k * ${E}u + w] = 0u; }
}`;
}
