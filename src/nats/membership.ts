/**
 * Which nodes are alive: every node publishes a heartbeat (its name, incarnation and
 * shard count) every heartbeatMs on `<cluster>.hb`, answers `<cluster>.hello` (a node
 * starting) with one at once, and says `<cluster>.bye` when it shuts down. A node not
 * heard from for deadAfterMs is dead. A node name answers pings on its own subject, so a
 * second live process with the same name is refused at start.
 *
 * A node that shuts down is first *leaving*: no longer a member (nothing is placed on
 * it), but alive (its leases are its own until it has handed its actors over); then it
 * says `<cluster>.gone`. Only a dead or gone node's leases may be taken.
 *
 * Keys: a heartbeat carries the incarnation's Ed25519 public key (signing.ts) and is
 * signed with it, as are bye and gone. The first good heartbeat of an incarnation pins
 * its key here; a later message of that incarnation signed by another key, or not
 * signed by the pinned one, or with a sequence number not above the last one heard, is
 * ignored and counted (ringshard_node_heartbeats_ignored_total). The pinned keys are what
 * the node runtime verifies calls with. Trust on first sight: a node that joins believes
 * the first key it hears for an incarnation, so only nodes may publish to `<cluster>.hb`
 * (the server's permissions; see "Securing a NATS cluster" in docs/nats.md).
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { ErrorCode, RingshardError } from '../errors.ts';
import type { Member } from './rendezvous.ts';
import { NodeKey, importPublicKey, verifySignature } from './signing.ts';

/** A new incarnation name of `node` ('gpu-a#1f2e9a0c'): one per process run. */
export function newIncarnation(node: string): string {
  return `${node}#${randomBytes(4).toString('hex')}`;
}

/** True for an incarnation name as newIncarnation makes them ('gpu-a#1f2e9a0c'). */
export function isIncarnation(name: string): boolean {
  return INCARNATION.test(name);
}

/** The node name of an incarnation ('gpu-a#1f2e' -> 'gpu-a'). */
export function nodeOf(incarnation: string): string {
  const at = incarnation.indexOf('#');
  return at < 0 ? incarnation : incarnation.slice(0, at);
}

export interface MemberInfo extends Member {
  readonly incarnation: string;
  readonly self: boolean;
}

interface Heard {
  shards: number;
  incarnation: string;
  at: number;
  leaving: boolean;
}

interface Pinned {
  readonly key: KeyObject;
  readonly announced: string;
  /** The newest sequence number heard from the incarnation. */
  seq: number;
  at: number;
}

/** Why a membership message was ignored (ringshard_node_heartbeats_ignored_total{reason}). */
export const IGNORED_REASONS = ['malformed', 'bad-signature', 'key-changed', 'replay'] as const;
export type IgnoredReason = (typeof IGNORED_REASONS)[number];

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const INCARNATION = /^[A-Za-z0-9_-]{1,64}#[0-9a-f]{8}$/;
/** Pinned keys of incarnations not heard from for this long are forgotten (and at most this many kept). */
const FORGET_KEYS_MS = 10 * 60_000;
const MAX_PINNED = 10_000;

/** What a signed membership message says, in the one byte order its signature covers. */
function canonical(kind: 'hb' | 'bye' | 'gone', prefix: string, m: { node: string; incarnation: string; seq: number; shards?: number; leaving?: boolean; key?: string }): Buffer {
  const fields = kind === 'hb' ? [m.shards, m.leaving ? 1 : 0, m.key] : [];
  return Buffer.from([`ringshard-${kind}`, prefix, m.node, m.incarnation, m.seq, ...fields].join('\n'));
}

export class Membership {
  private readonly heard = new Map<string, Heard>();
  /** Per incarnation (this one's too): its pinned public key. */
  private readonly keys = new Map<string, Pinned>();
  private readonly key = new NodeKey();
  private seq = 0;
  /** Membership messages ignored, by reason. */
  readonly ignored = new Map<IgnoredReason, number>(IGNORED_REASONS.map((r) => [r, 0]));
  private readonly subs: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  private leaving = false;
  /** Called after the set of live members changed (a node came, went or died). */
  onChange: () => void = () => {};

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    readonly node: string,
    readonly incarnation: string,
    private readonly shards: number,
    private readonly heartbeatMs: number,
    private readonly deadAfterMs: number,
  ) {
    this.keys.set(incarnation, { key: importPublicKey(this.key.publicKey)!, announced: this.key.publicKey, seq: 0, at: Date.now() });
  }

  /** Signs with this incarnation's key (its calls to other nodes). */
  sign(data: Uint8Array): Uint8Array {
    return this.key.sign(data);
  }

  /** The pinned public key of an incarnation, if one was heard. */
  keyOf(incarnation: string): KeyObject | undefined {
    return this.keys.get(incarnation)?.key;
  }

  /** The incarnation of a live node (leaving ones too), as this node heard it. */
  incarnationOf(node: string): string | undefined {
    return node === this.node ? this.incarnation : this.heard.get(node)?.incarnation;
  }

  private signed(kind: 'hb' | 'bye' | 'gone', fields: { shards?: number; leaving?: boolean; key?: string }): Uint8Array {
    const m = { node: this.node, incarnation: this.incarnation, seq: ++this.seq, ...fields };
    const sig = Buffer.from(this.key.sign(canonical(kind, this.prefix, m))).toString('base64url');
    return Buffer.from(JSON.stringify({ ...m, sig }));
  }

  private beat(): Uint8Array {
    return this.signed('hb', { shards: this.shards, leaving: this.leaving, key: this.key.publicKey });
  }

  private ignore(reason: IgnoredReason): undefined {
    this.ignored.set(reason, this.ignored.get(reason)! + 1);
    return undefined;
  }

  /**
   * A membership message another node signed, checked: well formed, signed by the
   * incarnation's pinned key (a heartbeat pins the key it carries, the first time), its
   * sequence number above the last one heard. Undefined (and counted) when not.
   */
  private check(kind: 'hb' | 'bye' | 'gone', data: Uint8Array): { node: string; incarnation: string; shards: number; leaving: boolean } | undefined {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(Buffer.from(data).toString());
    } catch {
      return this.ignore('malformed');
    }
    if (m === null || typeof m !== 'object') return this.ignore('malformed');
    const { node, incarnation, seq, sig } = m;
    if (typeof node !== 'string' || !NAME.test(node) || typeof incarnation !== 'string' || !INCARNATION.test(incarnation) || nodeOf(incarnation) !== node) return this.ignore('malformed');
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1 || typeof sig !== 'string') return this.ignore('malformed');
    if (kind === 'hb' && (typeof m.shards !== 'number' || !Number.isInteger(m.shards) || m.shards < 1 || m.shards > 4096 || typeof m.leaving !== 'boolean' || typeof m.key !== 'string')) return this.ignore('malformed');
    if (node === this.node) return undefined; // this node's own (or one claiming its name): never a member here
    const pinned = this.keys.get(incarnation);
    let key = pinned?.key;
    if (kind === 'hb') {
      if (pinned && pinned.announced !== m.key) return this.ignore('key-changed');
      key ??= importPublicKey(m.key);
      if (!key) return this.ignore('malformed');
    }
    if (!key) return undefined; // a bye or gone of an incarnation never heard: nothing to do
    const fields = { node, incarnation, seq, shards: m.shards as number, leaving: m.leaving as boolean, key: m.key as string };
    if (!verifySignature(key, canonical(kind, this.prefix, fields), Buffer.from(sig, 'base64url'))) return this.ignore('bad-signature');
    if (pinned && seq <= pinned.seq) return this.ignore('replay');
    const now = Date.now();
    if (pinned) {
      pinned.seq = seq;
      pinned.at = now;
    } else {
      this.keys.set(incarnation, { key, announced: m.key as string, seq, at: now });
    }
    return { node, incarnation, shards: fields.shards, leaving: fields.leaving };
  }

  /** Refuses a duplicate name, starts heartbeats, and waits until the live members are known. */
  async join(): Promise<void> {
    const ping = `${this.prefix}.ping.${this.node}`;
    const answer = await this.nc.request(ping, new Uint8Array(0), { timeout: Math.max(200, 2 * this.heartbeatMs) }).catch(() => undefined);
    if (answer) {
      throw new RingshardError(ErrorCode.DUPLICATE_NODE, `options.nats.node: a live node named '${this.node}' is already in cluster '${this.prefix}' (incarnation ${answer.string()}); node names must be unique`);
    }
    this.subs.push(this.nc.subscribe(ping, { callback: (_e, m) => void m.respond(Buffer.from(this.incarnation)) }));
    this.subs.push(
      this.nc.subscribe(`${this.prefix}.hb`, {
        callback: (_e, m) => {
          const b = this.check('hb', m.data);
          if (!b) return;
          const known = this.heard.get(b.node);
          // Once leaving, a node stays leaving (a heartbeat sent before its bye may come after it).
          const leaving = b.leaving || (known?.incarnation === b.incarnation && known.leaving);
          this.heard.set(b.node, { shards: b.shards, incarnation: b.incarnation, at: Date.now(), leaving });
          if (!known || known.incarnation !== b.incarnation || known.shards !== b.shards || known.leaving !== leaving) this.onChange();
        },
      }),
    );
    this.subs.push(this.nc.subscribe(`${this.prefix}.hello`, {
        callback: () => this.nc.publish(`${this.prefix}.hb`, this.beat()),
      }));
    this.subs.push(
      this.nc.subscribe(`${this.prefix}.bye`, {
        callback: (_e, m) => {
          const b = this.check('bye', m.data);
          const h = b && this.heard.get(b.node);
          if (h && h.incarnation === b.incarnation && !h.leaving) {
            h.leaving = true;
            this.onChange();
          }
        },
      }),
    );
    this.subs.push(
      this.nc.subscribe(`${this.prefix}.gone`, {
        callback: (_e, m) => {
          const b = this.check('gone', m.data);
          if (b && this.heard.get(b.node)?.incarnation === b.incarnation && this.heard.delete(b.node)) this.onChange();
        },
      }),
    );
    await this.nc.flush();
    this.nc.publish(`${this.prefix}.hello`, new Uint8Array(0));
    this.nc.publish(`${this.prefix}.hb`, this.beat());
    this.timer = setInterval(() => this.tick(), this.heartbeatMs);
    this.timer.unref();
    // The others answer hello at once; two heartbeats is when the slow ones have too.
    await new Promise((r) => setTimeout(r, 2 * this.heartbeatMs));
  }

  private tick(): void {
    this.nc.publish(`${this.prefix}.hb`, this.beat());
    const now = Date.now();
    let changed = false;
    for (const [node, h] of this.heard) {
      if (now - h.at > this.deadAfterMs) {
        this.heard.delete(node);
        changed = true;
      }
    }
    if (changed) this.onChange();
    if (this.keys.size > 1) this.forgetKeys(now);
  }

  /** Forgets the keys of incarnations long silent (never a live one's, nor this one's). */
  private forgetKeys(now: number): void {
    const live = new Set(this.incarnations());
    const old = [...this.keys].filter(([inc, p]) => !live.has(inc) && now - p.at > FORGET_KEYS_MS).map(([inc]) => inc);
    for (const inc of old) this.keys.delete(inc);
    if (this.keys.size <= MAX_PINNED) return;
    const byAge = [...this.keys].filter(([inc]) => !live.has(inc)).sort((a, b) => a[1].at - b[1].at);
    for (const [inc] of byAge.slice(0, this.keys.size - MAX_PINNED)) this.keys.delete(inc);
  }

  /** The live nodes, this one included while it is not leaving, by name. */
  members(): MemberInfo[] {
    const out: MemberInfo[] = [...this.heard].filter(([, h]) => !h.leaving).map(([node, h]) => ({ node, shards: h.shards, incarnation: h.incarnation, self: false }));
    if (!this.leaving) out.push({ node: this.node, shards: this.shards, incarnation: this.incarnation, self: true });
    return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }

  /** Alive, leaving or not: its leases are still its own. */
  isAlive(node: string): boolean {
    return node === this.node || this.heard.has(node);
  }

  /** Every incarnation alive now (leaving ones too), this one included. */
  incarnations(): string[] {
    return [this.incarnation, ...[...this.heard.values()].map((h) => h.incarnation)];
  }

  /** This incarnation of its node is alive (a restarted node's earlier incarnation is not). */
  isAliveIncarnation(incarnation: string): boolean {
    return incarnation === this.incarnation || this.heard.get(nodeOf(incarnation))?.incarnation === incarnation;
  }


  /** From now on this node places nothing on itself (it hands its actors over). */
  startLeaving(): void {
    this.leaving = true;
    this.nc.publish(`${this.prefix}.bye`, this.signed('bye', {}));
    this.onChange();
  }

  /** Handed everything over: the others may take what is left of this node's. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (!this.nc.isClosed()) this.nc.publish(`${this.prefix}.gone`, this.signed('gone', {}));
    for (const s of this.subs) s.unsubscribe();
  }
}
