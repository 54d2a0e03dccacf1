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
 */
import { randomBytes } from 'node:crypto';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { ErrorCode, RingshardError } from '../errors.ts';
import type { Member } from './rendezvous.ts';

/** A new incarnation name of `node` ('gpu-a#1f2e9a0c'): one per process run. */
export function newIncarnation(node: string): string {
  return `${node}#${randomBytes(4).toString('hex')}`;
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

export class Membership {
  private readonly heard = new Map<string, Heard>();
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
  ) {}

  private beat(): Uint8Array {
    return Buffer.from(JSON.stringify({ node: this.node, incarnation: this.incarnation, shards: this.shards, leaving: this.leaving }));
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
          try {
            const b = m.json<{ node: string; incarnation: string; shards: number; leaving: boolean }>();
            if (b.node === this.node) return;
            const known = this.heard.get(b.node);
            // Once leaving, a node stays leaving (a heartbeat sent before its bye may come after it).
            const leaving = b.leaving || (known?.incarnation === b.incarnation && known.leaving);
            this.heard.set(b.node, { shards: b.shards, incarnation: b.incarnation, at: Date.now(), leaving });
            if (!known || known.incarnation !== b.incarnation || known.shards !== b.shards || known.leaving !== leaving) this.onChange();
          } catch {
            // Not a heartbeat of ours.
          }
        },
      }),
    );
    this.subs.push(this.nc.subscribe(`${this.prefix}.hello`, {
        callback: () => this.nc.publish(`${this.prefix}.hb`, this.beat()),
      }));
    this.subs.push(
      this.nc.subscribe(`${this.prefix}.bye`, {
        callback: (_e, m) => {
          const h = this.heard.get(m.string());
          if (h && !h.leaving) {
            h.leaving = true;
            this.onChange();
          }
        },
      }),
    );
    this.subs.push(
      this.nc.subscribe(`${this.prefix}.gone`, {
        callback: (_e, m) => {
          if (this.heard.delete(m.string())) this.onChange();
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
    this.nc.publish(`${this.prefix}.bye`, Buffer.from(this.node));
    this.onChange();
  }

  /** Handed everything over: the others may take what is left of this node's. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (!this.nc.isClosed()) this.nc.publish(`${this.prefix}.gone`, Buffer.from(this.node));
    for (const s of this.subs) s.unsubscribe();
  }
}
