/**
 * Names the generated WGSL gives to cluster-level things, in one place, because a
 * reference's ctx must offer the same names (ctx.ROLE_TELLER for WGSL's ROLE_TELLER).
 */

/** `ROLE_TELLER` for role 'teller': the constant WGSL (and a reference's ctx) has for a role. */
export function roleConstant(role: string): string {
  return `ROLE_${role.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/** `SinkRequest` for the sends entry 'sink': the struct send_sink takes. */
export function sendStructName(name: string): string {
  return `${name[0]!.toUpperCase()}${name.slice(1)}Request`;
}

/** Role names become WGSL constants: identifiers, and at most 32 (one bit each). */
export const ROLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
export const MAX_ROLES = 32;
