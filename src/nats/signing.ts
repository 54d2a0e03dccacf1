/**
 * Node keys: each node incarnation makes an Ed25519 key pair at start, announces the
 * public key in its heartbeats (the others pin it on first sight) and signs its calls
 * and membership messages with the private key.
 *
 * Why node:crypto and not @nats-io/nkeys (both Ed25519): on this project's 2-core
 * machine (2026-12-05) node:crypto (OpenSSL) signed a 200-byte frame in 28 us and
 * verified it in 73 us (16 KB: 60 and 90 us); nkeys (tweetnacl, pure JavaScript) took
 * 17-27 ms for either. Calls are signed per frame (all calls of a turn of the event loop
 * to one node), so the cost is per frame, not per message.
 */
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

/** An Ed25519 public key as the heartbeat carries it: the raw 32 bytes, base64url (43 characters). */
const PUBLIC_KEY = /^[A-Za-z0-9_-]{43}$/;

export class NodeKey {
  /** This key's public half, as announced (raw 32 bytes, base64url). */
  readonly publicKey: string;
  private readonly privateKey: KeyObject;

  constructor() {
    const pair = generateKeyPairSync('ed25519');
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey.export({ format: 'jwk' }).x!;
  }

  sign(data: Uint8Array): Uint8Array {
    return sign(null, data, this.privateKey);
  }
}

/** The key an announced public key names, or undefined when it is not one. */
export function importPublicKey(announced: unknown): KeyObject | undefined {
  if (typeof announced !== 'string' || !PUBLIC_KEY.test(announced)) return undefined;
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: announced }, format: 'jwk' });
  } catch {
    return undefined;
  }
}

/** True when `signature` is `key`'s over `data` (never throws). */
export function verifySignature(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(null, data, key, signature);
  } catch {
    return false;
  }
}

/**
 * Which frame sequence numbers of one sender were served: the newest, and those of the
 * last WINDOW below it. A number seen before, or older than the window, is a replay.
 * Frames of one connection arrive in order; the window only spares frames that a
 * reconnect through another server of a NATS cluster may have overtaken.
 */
export class ReplayWindow {
  static readonly WINDOW = 1024;
  private newest = 0;
  private readonly recent = new Set<number>();

  /** True (and remembered) the first time `seq` comes within the window; false for a replay. */
  accept(seq: number): boolean {
    if (seq > this.newest) {
      this.newest = seq;
      this.recent.add(seq);
      // Numbers below the window are refused by the test below whether kept or not:
      // pruned now and then (amortized), not on every frame.
      if (this.recent.size > 2 * ReplayWindow.WINDOW) {
        for (const s of this.recent) if (s <= seq - ReplayWindow.WINDOW) this.recent.delete(s);
      }
      return true;
    }
    if (seq <= this.newest - ReplayWindow.WINDOW || this.recent.has(seq)) return false;
    this.recent.add(seq);
    return true;
  }
}
