/**
 * NodeRuntime: what makes a Cluster one node of a cluster of processes on NATS.
 *
 *   - placement: rendezvous hashing of an actor's identity over the live (node, shard)
 *     members (Membership), the same answer on every node with the same view;
 *   - an actor this node owns lives in a local shard as always (the local fast path:
 *     no NATS per message, unless durable), after this node took its lease and restored
 *     its state (its StateStore: snapshot, then the journal after it);
 *   - an actor another node owns is reached through one RemoteLink, and this node serves
 *     the other nodes' calls for the actors it owns (`<cluster>.rpc.<node>`);
 *   - when the members change, every local actor whose owner changed is handed over
 *     (ActorCustody: takeovers, handovers and snapshots);
 *   - K2K messages to actors elsewhere find their owner by id (RemoteK2K);
 *   - other nodes' calls are checked and served by the CallServer.
 *
 * It is the cluster's ActorLocator in this mode: the Cluster has no NATS branch.
 */
import { diagnostics, type MembershipEvent } from '../diagnostics.ts';
import { SEND_OP_SHIFT, SendHeader } from '../layout/record.ts';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { ErrorCode, RingshardError, closedError } from '../errors.ts';
import { newActor, type ActorEntry } from '../coordinator/actor-directory.ts';
import { remoteActor, type ActorHandle, type ActorSpec, type RemoteActor } from '../coordinator/actor-handle.ts';
import type { ActorLocation, ActorLocator, MemberInfo, NodeCounters } from '../coordinator/actor-locator.ts';
import { MovingLink } from '../coordinator/moving-link.ts';
import type { ShardLink } from '../coordinator/shard-link.ts';
import type { DeadLetterReason } from '../coordinator/dead-letters.ts';
import type { ResolvedNats } from './nats-options.ts';
import { connectionOptions } from './connection-options.ts';
import { connectError, storeError } from './connect-errors.ts';
import { Membership, newIncarnation } from './membership.ts';
import { RendezvousTable, hash32, type Placement } from './rendezvous.ts';
import { ActorStore } from './actor-store.ts';
import type { StateStore } from '../recovery/state-store.ts';
import { RemoteLink, rpcSubject, type RemoteRouting } from './remote-link.ts';
import { CallServer } from './call-server.ts';
import { RemoteK2K } from './remote-k2k.ts';
import { ActorCustody } from '../recovery/actor-custody.ts';
import { departedLink } from '../coordinator/stand-in-links.ts';
import type { LocalNode } from './local-node.ts';
import type { KeyObject } from 'node:crypto';
import type { Call } from './wire.ts';

export type { LocalNode, NodeRef } from './local-node.ts';

/**
 * An actor's cluster-wide id in a multi-node cluster: derived from its identity, so that
 * every node knows it without asking (never 0, never NO_ACTOR).
 */
export function actorIdFor(identity: string): number {
  return (hash32(identity, 0x2545f491) % 0xfffffffd) + 1;
}
/** How often a durable node looks for dead incarnations' journals no lease needs. */
const SWEEP_MS = 60_000;

export class NodeRuntime implements RemoteRouting, ActorLocator {
  readonly self: string;
  readonly incarnation: string;
  readonly subjectPrefix: string;
  private table: RendezvousTable;
  private readonly remote = new Map<string, RemoteActor>();
  private readonly remoteLink: RemoteLink;
  private readonly rpc: Subscription;
  private snapshotTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly server: CallServer;
  private readonly k2k: RemoteK2K;
  /** Signs this node's frames (undefined: unsigned, the bench's comparison only). */
  readonly sign: ((data: Uint8Array) => Uint8Array) | undefined;
  private readonly custody: ActorCustody;
  /** A handed-over actor's waiting records follow it to its new owner through the remote link. */
  private readonly depart = (entry: ActorEntry, from: ShardLink): ShardLink => departedLink(this.remoteLink, entry, from.index);
  private closed = false;
  /** Not serving calls before the view of the members is known (they are refused, and come again). */
  private joined = false;

  private constructor(
    private readonly nc: NatsConnection,
    options: ResolvedNats,
    private readonly membership: Membership,
    private readonly store: StateStore,
    readonly local: LocalNode,
  ) {
    this.self = options.node;
    this.incarnation = membership.incarnation;
    this.subjectPrefix = options.cluster;
    this.table = new RendezvousTable(membership.members());
    this.sign = options.unsigned ? undefined : (data) => membership.sign(data);
    this.remoteLink = new RemoteLink(nc, this, local.askTimeoutMs);
    this.k2k = new RemoteK2K(local, store, this.remoteLink);
    this.custody = new ActorCustody(this.self, store, local, options.durable ? 'journal' : 'handover', (incarnation) => membership.isAliveIncarnation(incarnation));
    const subject = rpcSubject(this.subjectPrefix, this.self);
    this.server = new CallServer(nc, this, subject);
    this.rpc = nc.subscribe(subject, { callback: (_e, m) => this.server.serveFrame(m) });
    membership.onChange = () => this.membersChanged();
    if (options.durable) {
      this.snapshotTimer = setInterval(() => void this.custody.snapshotDirty(), options.snapshotEveryMs);
      this.snapshotTimer.unref();
      // Dead incarnations' journals, once all their actors were taken over.
      this.sweepTimer = setInterval(() => void this.store.sweep(this.membership.incarnations()).catch(() => {}), SWEEP_MS);
      this.sweepTimer.unref();
    }
  }

  /**
   * Connects and prepares the node; join() then makes it a member. Between the two the
   * cluster keeps the runtime, so that a call served during the join finds it.
   */
  static async connect(options: ResolvedNats, local: LocalNode): Promise<NodeRuntime> {
    const connection = connectionOptions(options);
    let nc: NatsConnection;
    try {
      nc = await connect({ ...connection, timeout: 3000, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    } catch (error) {
      throw connectError(error as Error, options);
    }
    try {
      const incarnation = newIncarnation(options.node);
      const store = await ActorStore.open(nc, options.cluster, options.durable, incarnation).catch((error: Error) => {
        throw storeError(error, options);
      });
      const membership = new Membership(nc, options.cluster, options.node, incarnation, local.shards.length, options.heartbeatMs, options.deadAfterMs);
      return new NodeRuntime(nc, options, membership, store, local);
    } catch (error) {
      await nc.close().catch(() => {});
      throw error;
    }
  }

  /** Refuses a duplicate name, becomes a member, learns the others; calls are served from then on. */
  async join(): Promise<void> {
    try {
      await this.membership.join();
    } catch (error) {
      this.closed = true;
      this.rpc.unsubscribe();
      this.remoteLink.close(error as Error);
      await this.nc.close().catch(() => {});
      throw error;
    }
    this.joined = true;
    this.membersChanged();
  }

  // ---- placement

  ownerNode(identity: string): string | undefined {
    return this.table.owner(identity)?.node;
  }

  get nodeName(): string {
    return this.self;
  }

  members(): MemberInfo[] {
    return this.membership.members().map((m) => ({ node: m.node, shards: m.shards, self: m.self }));
  }

  /** Where the actor lives: where it is now if this node knows, else where it would be placed. */
  locate(spec: ActorSpec): ActorLocation {
    const entry = this.local.directory.lookup(spec.identity);
    if (entry) return { node: this.self, shard: entry.shard };
    const placed = this.table.owner(spec.identity);
    if (!placed) throw new RingshardError(ErrorCode.CLOSED, 'this node is leaving the cluster and knows no live member');
    return placed;
  }

  // ---- CallServerHost

  get signing(): boolean {
    return this.sign !== undefined;
  }

  serving(): boolean {
    return this.joined && !this.closed;
  }

  keyOf(incarnation: string): KeyObject | undefined {
    return this.membership.keyOf(incarnation);
  }

  owns(identity: string): boolean {
    return this.ownerNode(identity) === this.self && !this.custody.handingOver.has(identity);
  }

  /** Runs a call on this node's actor (activating it here if needed). */
  runLocally(call: Call, callId: string): Promise<Uint32Array> {
    return this.server.runLocally(call, callId);
  }

  principalName(id: number): string {
    return this.local.principalName(id);
  }

  incarnationOf(node: string): string | undefined {
    return this.membership.incarnationOf(node);
  }

  // ---- activation

  /** The handle a ref's messages go through: a local actor (activated here) or one another node owns. */
  activate(spec: ActorSpec): ActorHandle {
    const existing = this.local.directory.lookup(spec.identity);
    if (existing) return existing;
    const known = this.remote.get(spec.identity);
    if (known && known.active) return known;
    const placed = this.table.owner(spec.identity);
    if (placed && placed.node === this.self) return this.activateHere(spec, placed);
    const handle = remoteActor(spec, actorIdFor(spec.identity), this.remoteLink, placed?.node ?? '', placed?.shard ?? 0);
    this.remote.set(spec.identity, handle);
    // Its id may travel in a message before the actor ever runs: K2K senders find it by id.
    this.k2k.remember(handle.actorId, handle.identity);
    return handle;
  }

  find(spec: ActorSpec): ActorHandle | undefined {
    return this.local.directory.lookup(spec.identity) ?? this.remote.get(spec.identity);
  }

  /** Terminated: a local actor leaves the directory; a remote handle stops being used (the next message resolves the owner again). */
  retire(handle: ActorHandle): void {
    if (!handle.remote) return this.local.directory.retire(handle);
    handle.active = false;
    if (this.remote.get(handle.identity) === handle) this.remote.delete(handle.identity);
  }

  freeSlot(handle: ActorHandle): void {
    if (handle.remote) return;
    this.local.retired(handle);
    this.local.directory.freeSlot(handle);
  }

  private activateHere(spec: ActorSpec, placed: Placement): ActorEntry {
    const real = this.local.shards[placed.shard]!;
    const moving = new MovingLink(real);
    const entry = this.local.directory.add(newActor(spec, moving), actorIdFor(spec.identity));
    this.local.activated(entry);
    this.custody.takeOver(entry, this.local.kernel(spec.kernel.name)!, real, moving);
    return entry;
  }

  /** A K2K message for an actor id this node does not hold: the actor's owner, found by id (see RemoteK2K). */
  routeElsewhere(words: Uint32Array, o: number, dead: (reason: DeadLetterReason) => void): void {
    // A timer's fire for an actor that is not here (it moved to another node): its owner
    // indexed its timers when it took it over, and fires them itself.
    if (words[o + SendHeader.kernel]! >>> SEND_OP_SHIFT !== 0) return;
    this.k2k.route(words, o, dead);
  }

  /** What this node counts, for its metrics. */
  counters(): NodeCounters {
    return {
      members: this.membership.members().length,
      sent: this.remoteLink.results,
      served: this.server.served,
      refused: this.server.refused,
      heartbeatsIgnored: this.membership.ignored,
      takeovers: this.custody.takeovers,
      handovers: this.custody.handovers,
      journalEntries: this.store.entries,
      snapshots: this.store.snapshotsWritten,
      replayedCalls: this.custody.replayedCalls,
    };
  }

  // ---- membership changes

  private membersChanged(): void {
    this.table = new RendezvousTable(this.membership.members());
    this.publishMembers();
    this.server.membersChanged();
    for (const entry of this.remote.values()) {
      if (this.table.owner(entry.identity)?.node !== entry.node) {
        entry.active = false; // its refs resolve the owner again on their next message
        this.remote.delete(entry.identity);
      }
    }
    for (const entry of [...this.local.directory.entries()]) {
      if (this.table.owner(entry.identity)?.node !== this.self) void this.custody.handOver(entry, this.depart);
    }
    // Calls out to a leaving node stay: it answers them (or refuses them) before it goes.
    this.remoteLink.membersChanged((n) => this.membership.isAlive(n));
  }

  /** The members the last membership event named. */
  private publishedMembers: readonly string[] = [];

  /** ringshard:node:members: the live members now, and who came and went (only a change is published). */
  private publishMembers(): void {
    const now = this.membership.members().map((m) => m.node);
    const was = new Set(this.publishedMembers);
    const is = new Set(now);
    const joined = now.filter((n) => !was.has(n));
    const left = this.publishedMembers.filter((n) => !is.has(n));
    this.publishedMembers = now;
    if ((joined.length > 0 || left.length > 0) && diagnostics.membership.hasSubscribers) diagnostics.membership.publish({ node: this.self, members: now, joined, left } satisfies MembershipEvent);
  }

  // ---- shutdown

  /** A migrated actor stays journaled on its new shard (durable). */
  linkOn(entry: ActorEntry, shard: ShardLink): ShardLink {
    return this.custody.keep(entry, shard);
  }

  /** A node's store is JetStream's: its figures are the ringshard_node_* metrics. */
  storeCounters(): undefined {
    return undefined;
  }

  /** Everything closed in leave(). */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Hands every local actor over (the others take them), then leaves and closes the connection. */
  async leave(): Promise<void> {
    if (this.closed) return;
    this.membership.startLeaving();
    await Promise.allSettled([...this.custody.restoring.values()]);
    await Promise.allSettled([...this.local.directory.entries()].map((e) => this.custody.handOver(e, this.depart)));
    await Promise.allSettled([...this.custody.handingOver.values()]);
    // Calls still out (to other nodes) get their answers, up to a while.
    const deadline = Date.now() + Math.min(5000, this.local.askTimeoutMs);
    while ((this.remoteLink.pending > 0 || this.server.inFlight > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.closed = true;
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.membership.stop();
    this.rpc.unsubscribe();
    this.remoteLink.close(closedError());
    await this.nc.drain().catch(() => {});
  }
}
