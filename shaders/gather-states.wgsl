// ringshard checkpoint gather: copies the states of the listed actor slots into one
// packed range, so a checkpoint reads back only the actors that changed, in one copy.
// rs_list[0] is the slot count; the slots follow.

@group(0) @binding(0) var<storage, read> rs_list: array<u32>;
@group(0) @binding(1) var<storage, read> rs_states: array<u32>;
@group(0) @binding(2) var<storage, read_write> rs_packed: array<u32>;

const RS_STATE_STRIDE: u32 = {{STATE_STRIDE}}u;

@compute @workgroup_size({{WORKGROUP_SIZE}})
fn rs_gather(@builtin(global_invocation_id) rs_gid: vec3<u32>) {
  let i = rs_gid.x;
  if (i >= rs_list[0]) { return; }
  let src = rs_list[i + 1u] * RS_STATE_STRIDE;
  let dst = i * RS_STATE_STRIDE;
  for (var w = 0u; w < RS_STATE_STRIDE; w++) { rs_packed[dst + w] = rs_states[src + w]; }
}
