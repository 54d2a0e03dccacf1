/**
 * NodeRuntime: what makes a Cluster one node of a cluster of processes on NATS.
 *
 *   - placement: rendezvous hashing of an actor's identity over the live (node, shard)
 *     members (Membership), the same answer on every node with the same view;
 *   - an actor this node owns lives in a local shard as always (the local fast path:
 *     no NATS per message, unless durable), after this node took its lease and restored
 *     its state (ActorStore: snapshot, then the journal after it);
 *   - an actor another node owns is reached through one RemoteLink, and this node serves
 *     the other nodes' calls for the actors it owns (`<cluster>.rpc.<node>`);
 *   - when the members change, every local actor whose owner changed is handed over:
 *     exported after the messages before it, snapshotted, its lease released, and what
 *     was sent to it meanwhile follows it to its new owner in order.
 *
 * Serving another node's frame (serveFrame), in this order; a refusal is counted by
 * reason (ringshard_node_calls_refused_total):
 *   1. the frame decodes with every length checked, else 'bad-frame' (dropped);
 *   2. it is signed ('unsigned' otherwise, dropped), by the sender incarnation's pinned
 *      key (not known yet: 'unknown-node', and every call is answered "not mine", so a
 *      sender this node has not heard yet sends it again, nothing lost), over this node's
 *      subject ('bad-signature', dropped);
 *   3. its sequence number is one that sender has not used before ('replay', dropped;
 *      signing.ts ReplayWindow) and it names this incarnation (else "not mine": the
 *      sender's view is older);
 *   4. per call: a known op and kernel, count x words = payload words with the kernel's
 *      request words, payload words the request schema allows (call-checks.ts); a call
 *      that fails is answered ERR_RINGSHARD_SCHEMA (or _UNKNOWN_KERNEL) and runs not.
 * Dropped frames get no answer: they come from no node. Answers go to the verified
 * sender's reply subject, never to a reply subject the frame asks for.
 */
import { connect, type NatsConnection, type Subscription, type Msg } from '@nats-io/transport-node';
import { ErrorCode, RingshardError, closedError } from '../errors.ts';
import type { Kernel } from '../kernels/define-kernel.ts';
import { actorIdentity, identityParts, newActor, type ActorDirectory, type ActorEntry } from '../coordinator/actor-directory.ts';
import { linkOf, remoteActor, type ActorHandle, type ActorSpec, type RemoteActor } from '../coordinator/actor-handle.ts';
import type { ActorLocation, ActorLocator, MemberInfo, NodeCounters } from '../coordinator/actor-locator.ts';
import { SEND_HEADER_WORDS, SendHeader } from '../layout/record.ts';
import { MovingLink } from '../coordinator/moving-link.ts';
import { deadLetterReason, type DeadLetterReason } from '../coordinator/dead-letters.ts';
import type { Caller, ShardLink } from '../coordinator/shard-link.ts';
import type { ActorRef } from '../api/actor-ref.ts';
import type { ResolvedNats } from './nats-options.ts';
import { connectionOptions } from './connection-options.ts';
import { connectError, storeError } from './connect-errors.ts';
import { Membership, isIncarnation, newIncarnation } from './membership.ts';
import { RendezvousTable, hash32, type Placement } from './rendezvous.ts';
import { ActorStore, storeKey } from './actor-store.ts';
import { RemoteLink, replySubject, rpcSubject, type RemoteRouting } from './remote-link.ts';
import { JournalingLink, type ReplayedCalls } from './journaling-link.ts';
import { departedLink, failingLink } from './stand-in-links.ts';
import { CallOp, ReplyStatus, decodeCalls, encodeReplies, frameKind, openSignedFrame, type Call, type DecodedCalls, type Reply, type SignedFrame } from './wire.ts';
import { REFUSAL_REASONS, refusalOf, wordsChecker, type KernelWords, type RefusalReason } from './call-checks.ts';
import { ReplayWindow, verifySignature } from './signing.ts';
import { encodeOne, rawCodec, wordsSink } from './raw-words.ts';
import { wordsBatch } from '../layout/columns.ts';

/** What the runtime needs of its Cluster. */
export interface LocalNode {
  readonly shards: readonly ShardLink[];
  readonly directory: ActorDirectory;
  readonly askTimeoutMs: number;
  kernel(name: string): Kernel<any, any, any> | undefined;
  /** A ref for a call from another node (its names; roles as the cluster's role bits). */
  refFor(kernel: string, key: string, tenant: string, principal: string, roles: number): ActorRef<any, any, any>;
  principalName(id: number): string;
  principalId(name: string): number;
  tenantName(id: number): string;
  kernelName(id: number): string | undefined;
  /** Merges another node's clock into this one's (a K2K message's receiver is after its sender). */
  receiveClock(hi: number, lo: number): void;
  activated(entry: ActorEntry): void;
  retired(entry: ActorEntry): void;
  log(line: string): void;
}

const EMPTY = new Uint32Array(0);

/**
 * An actor's cluster-wide id in a multi-node cluster: derived from its identity, so that
 * every node knows it without asking (never 0, never NO_ACTOR).
 */
export function actorIdFor(identity: string): number {
  return (hash32(identity, 0x2545f491) % 0xfffffffd) + 1;
}
/** Entries the id -> identity and identity -> ref caches hold before they start again (both are re-filled on demand). */
const CACHE_LIMIT = 100_000;
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
  /** Local actors whose lease and state are on their way (their entries hold a MovingLink). */
  private readonly restoring = new Map<string, Promise<void>>();
  private readonly handingOver = new Map<string, Promise<void>>();
  /** Per store key: the journal sequence the actor's state here covers. */
  private readonly covered = new Map<string, number>();
  /** Per (sender incarnation, actor): the route epoch this node refused (its later calls of that epoch are refused too). */
  private readonly refusedEpochs = new Map<string, { epoch: number; at: number }>();
  private readonly refs = new Map<string, ActorRef<any, any, any>>();
  private snapshotTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly served = new Map<string, number>([['ok', 0], ['refused', 0], ['error', 0]]);
  /** Other nodes' calls (or frames) refused by the checks, by reason. */
  private readonly refused = new Map<RefusalReason, number>(REFUSAL_REASONS.map((r) => [r, 0]));
  /** Per sender incarnation: the sequence numbers of its frames served here. */
  private readonly frameSeqs = new Map<string, ReplayWindow>();
  /** Per kernel name known here: its request words and their checker. */
  private readonly kernelWords = new Map<string, KernelWords>();
  private readonly rpcSubject: string;
  /** Signs this node's frames (undefined: unsigned, the bench's comparison only). */
  readonly sign: ((data: Uint8Array) => Uint8Array) | undefined;
  private readonly takeovers = new Map<string, number>([['free', 0], ['own', 0], ['dead', 0], ['handed-over', 0]]);
  private handovers = 0;
  private replayedCalls = 0;
  /** Frames of other nodes' calls not answered yet (a leaving node answers them all before it goes). */
  private serving = 0;
  private closed = false;
  /** Not serving calls before the view of the members is known (they are refused, and come again). */
  private joined = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly options: ResolvedNats,
    private readonly membership: Membership,
    private readonly store: ActorStore,
    private readonly local: LocalNode,
  ) {
    this.self = options.node;
    this.incarnation = membership.incarnation;
    this.subjectPrefix = options.cluster;
    this.table = new RendezvousTable(membership.members());
    this.sign = options.unsigned ? undefined : (data) => membership.sign(data);
    this.remoteLink = new RemoteLink(nc, this, local.askTimeoutMs);
    this.rpcSubject = rpcSubject(this.subjectPrefix, this.self);
    this.rpc = nc.subscribe(this.rpcSubject, { callback: (_e, m) => this.serveFrame(m) });
    membership.onChange = () => this.membersChanged();
    if (options.durable) {
      this.snapshotTimer = setInterval(() => void this.snapshotDirty(), options.snapshotEveryMs);
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
    if (!this.identities.has(handle.actorId)) {
      this.identities.set(handle.actorId, handle.identity);
      void this.store.registerId(handle.actorId, handle.identity).catch(() => {});
    }
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
    const restored = this.restore(entry, this.local.kernel(spec.kernel.name)!, real, moving).finally(() => this.restoring.delete(spec.identity));
    this.restoring.set(spec.identity, restored);
    return entry;
  }

  /** Takes the lease, restores the state (snapshot, then the journal after it), then lets the waiting calls in. */
  private async restore(entry: ActorEntry, kernel: Kernel<any, any, any>, real: ShardLink, moving: MovingLink): Promise<void> {
    const key = storeKey(entry.identity);
    const what = `kernel '${kernel.name}' actor '${entry.key}'`;
    try {
      const { how, previous } = await this.store.acquire(key, (incarnation) => this.membership.isAliveIncarnation(incarnation), this.local.askTimeoutMs);
      this.takeovers.set(how, this.takeovers.get(how)! + 1);
      // Other nodes' K2K senders find the actor by its id.
      void this.store.registerId(entry.actorId, entry.identity).catch(() => {});
      const snap = await this.store.readSnapshot(key);
      const stateCodec = rawCodec(kernel.codecs.state);
      // An empty snapshot is a terminated actor's: it starts afresh.
      if (snap && snap.state.length > 0) await real.importState(entry, stateCodec, snap.state);
      else await real.activate(entry);
      let covered = snap?.seq ?? 0;
      const replayed: ReplayedCalls = new Map();
      if (this.options.durable && previous !== undefined) {
        // The lease came from a dead incarnation (another node's, or this node's before a
        // restart): what it journaled after the snapshot runs again, in order.
        const work: Array<Promise<unknown>> = [];
        for (const j of await this.store.read(key, covered, previous)) {
          work.push(this.replay(entry, kernel, real, j.call, j.sender, replayed));
          covered = j.seq;
        }
        await Promise.all(work);
      } else if (snap) {
        await this.store.deleteSnapshot(key); // a handover's, used once
      }
      this.covered.set(key, covered);
      const final = this.options.durable
        ? new JournalingLink(real, this.store, { key, kernel: kernel.name, tenant: entry.tenant, actorKey: entry.key, principalName: (id) => this.local.principalName(id) }, replayed)
        : real;
      entry.link = final;
      moving.arrived(final);
    } catch (error) {
      this.local.log(`ringshard: node '${this.self}' could not take over ${what}: ${(error as Error).message}`);
      this.local.directory.remove(entry);
      this.local.retired(entry);
      // What waited fails with the reason; the next message tries again.
      moving.arrived(failingLink(real, error as Error));
    }
  }

  private replay(entry: ActorEntry, kernel: Kernel<any, any, any>, real: ShardLink, call: Call, sender: string, replayed: ReplayedCalls): Promise<unknown> {
    const caller: Caller = { principalId: this.local.principalId(call.principal), roles: call.roles, sourceId: call.source };
    const id = sender !== '' ? `${sender}/${call.id}` : undefined;
    const batch = wordsBatch(call.payload, call.count, call.words);
    this.replayedCalls++;
    if (call.op === CallOp.TELL) {
      if (id) replayed.set(id, EMPTY);
      return real.tellMany(entry, caller, batch);
    }
    const sink = wordsSink(call.count, kernel.codecs.reply.words);
    return real
      .askMany(entry, caller, batch, { codec: kernel.codecs.reply, what: `replay of an ask to '${entry.key}'`, timeoutMs: this.local.askTimeoutMs, sink })
      .then(
        () => id && replayed.set(id, sink.words),
        () => {}, // it failed the first time too: the sender got that answer, or gets a timeout
      );
  }

  // ---- K2K messages to actors on other nodes

  private readonly identities = new Map<number, string>();
  /** Per actor id being looked up: the K2K messages that wait for it, in send order. */
  private readonly lookingUp = new Map<number, Array<() => void>>();

  /**
   * A K2K message (a send record in a reply ring) for an actor id this node does not
   * hold: the id's identity (from the ids bucket, then cached), then the actor's owner,
   * like a tell. Messages to one id keep their order, the lookup included.
   */
  routeElsewhere(words: Uint32Array, o: number, dead: (reason: DeadLetterReason) => void): void {
    const to = words[o + SendHeader.to]!;
    const kernel = this.local.kernelName(words[o + SendHeader.kernel]!);
    const tenant = this.local.tenantName(words[o + SendHeader.tenant]!);
    // The reply ring's slot is reused: keep the receiver's request words.
    const at = o + SEND_HEADER_WORDS;
    const payload = words.slice(at, at + (kernel === undefined ? 0 : this.local.kernel(kernel)!.codecs.request.words));
    const from: Caller = { principalId: words[o + SendHeader.principal]!, roles: words[o + SendHeader.roles]!, sourceId: words[o + SendHeader.source]! };
    const hlcHi = words[o + SendHeader.hlcHi]!;
    const hlcLo = words[o + SendHeader.hlcLo]!;
    const send = () => {
      const identity = this.identities.get(to);
      if (identity === undefined) return dead('no-such-actor');
      const parts = identityParts(identity);
      if (parts.kernel !== kernel) return dead('wrong-kernel');
      if (parts.tenant !== tenant) return dead('cross-tenant');
      this.remoteLink.deliver({ identity, kernelName: parts.kernel, tenant: parts.tenant, key: parts.key }, from, payload, hlcHi, hlcLo, (error) =>
        // The owner's authorize refused the carried principal, too many wait already, or the call failed.
        dead(deadLetterReason(error)),
      );
    };
    const waiting = this.lookingUp.get(to);
    if (waiting) return void waiting.push(send);
    if (this.identities.has(to)) return send();
    const queue = [send];
    this.lookingUp.set(to, queue);
    void this.store
      .identityOf(to)
      .catch(() => undefined)
      .then((identity) => {
        if (identity !== undefined) {
          // Bounded like refs: ids come from the ids bucket again when asked.
          if (this.identities.size > CACHE_LIMIT) this.identities.clear();
          this.identities.set(to, identity);
        }
        this.lookingUp.delete(to);
        for (const s of queue) s();
      });
  }

  // ---- serving other nodes' calls

  private serveFrame(m: Msg): void {
    // 1. Decode, every length checked.
    let decoded: DecodedCalls;
    let signed: SignedFrame | undefined;
    try {
      const kind = frameKind(m.data);
      if (kind === 'call' && this.sign) return this.refuse('unsigned');
      if (kind === 'signed-call') {
        signed = openSignedFrame(m.data);
        decoded = decodeCalls(signed.body);
      } else if (kind === 'call') {
        decoded = decodeCalls(m.data);
      } else {
        return this.refuse('bad-frame');
      }
      // A journal entry's senders never travel in a call; the sender is an incarnation.
      if (decoded.senders !== undefined || !isIncarnation(decoded.from)) return this.refuse('bad-frame');
    } catch {
      return this.refuse('bad-frame');
    }
    const { from, to, calls } = decoded;
    const inbox = replySubject(this.subjectPrefix, from);
    // Before the members (and their keys) are known, every call is refused: it comes again.
    if (this.closed || !this.joined) return this.answerNotMine(inbox, calls);
    // 2. Signed by the sender's pinned key, for this node's subject; 3. not seen before.
    if (signed) {
      const key = this.membership.keyOf(from);
      if (!key) {
        this.refuse('unknown-node', calls.length);
        return this.answerNotMine(inbox, calls);
      }
      if (!verifySignature(key, signed.signed(this.rpcSubject), signed.signature)) return this.refuse('bad-signature');
      let seen = this.frameSeqs.get(from);
      if (!seen) this.frameSeqs.set(from, (seen = new ReplayWindow()));
      if (!seen.accept(signed.seq)) return this.refuse('replay');
    }
    if (to !== this.incarnation) return this.answerNotMine(inbox, calls);
    // 4. Each call against its kernel.
    const answers = calls.map((c) => {
      const reason = refusalOf(c, this.kernelWordsOf(c.kernel));
      if (reason === undefined) return this.serve(from, c);
      this.refuse(reason);
      const code = reason === 'unknown-kernel' ? ErrorCode.UNKNOWN_KERNEL : ErrorCode.SCHEMA;
      const message = `node '${this.self}' refused a call to kernel '${c.kernel}': ${REFUSAL_TEXT[reason]}`;
      return Promise.resolve<Reply>({ id: c.id, status: ReplyStatus.ERROR, payload: EMPTY, error: { code, message } });
    });
    this.serving++;
    void Promise.all(answers).then((replies) => {
      this.serving--;
      this.publish(inbox, encodeReplies(replies));
    });
  }

  private publish(subject: string, data: Uint8Array): void {
    try {
      if (!this.nc.isClosed()) this.nc.publish(subject, data);
    } catch {
      // Closing: the sender's call times out, or it is sent again to the new owner.
    }
  }

  private refuse(reason: RefusalReason, n = 1): void {
    this.refused.set(reason, this.refused.get(reason)! + n);
  }

  /** Every call of a frame answered "not mine" (the sender sends them again). */
  private answerNotMine(inbox: string, calls: readonly Call[]): void {
    for (let i = 0; i < calls.length; i++) this.countServed('refused');
    this.publish(inbox, encodeReplies(calls.map((c) => ({ id: c.id, status: ReplyStatus.NOT_OWNER, payload: EMPTY }))));
  }

  private kernelWordsOf(name: string): KernelWords | undefined {
    let k = this.kernelWords.get(name);
    if (k) return k;
    const kernel = this.local.kernel(name);
    if (!kernel) return undefined; // not cached: names nobody defined do not fill the map
    const request = kernel.codecs.request;
    k = { words: request.words, check: wordsChecker(request.layout) };
    this.kernelWords.set(name, k);
    return k;
  }

  private serve(from: string, call: Call): Promise<Reply> {
    const identity = actorIdentity(call.kernel, call.tenant, call.key);
    const route = `${from}\u0000${identity}`;
    const refused = this.refusedEpochs.get(route);
    if (this.closed || !this.joined || (refused && call.epoch <= refused.epoch) || this.ownerNode(identity) !== this.self || this.handingOver.has(identity)) {
      this.refusedEpochs.set(route, { epoch: Math.max(call.epoch, refused?.epoch ?? 0), at: Date.now() });
      this.countServed('refused');
      return Promise.resolve({ id: call.id, status: ReplyStatus.NOT_OWNER, payload: EMPTY });
    }
    return this.runLocally(call, `${from}/${call.id}`).then(
      (payload): Reply => {
        this.countServed('ok');
        return { id: call.id, status: ReplyStatus.OK, payload };
      },
      (error: Error): Reply => (this.countServed('error'), {
        id: call.id,
        status: ReplyStatus.ERROR,
        payload: EMPTY,
        error: { code: error instanceof RingshardError ? error.code : ErrorCode.REMOTE, message: `node '${this.self}': ${error.message}` },
      }),
    );
  }

  private countServed(result: string): void {
    this.served.set(result, this.served.get(result)! + 1);
  }

  /** What this node counts, for its metrics. */
  counters(): NodeCounters {
    return {
      members: this.membership.members().length,
      sent: this.remoteLink.results,
      served: this.served,
      refused: this.refused,
      heartbeatsIgnored: this.membership.ignored,
      takeovers: this.takeovers,
      handovers: this.handovers,
      journalEntries: this.store.entries,
      snapshots: this.store.snapshotsWritten,
      replayedCalls: this.replayedCalls,
    };
  }

  /** Runs a call on this node's actor (activating it here if needed). */
  runLocally(call: Call, callId: string): Promise<Uint32Array> {
    try {
      const ref = this.refFor(call);
      const kernel = ref.kernel;
      if (call.op === CallOp.TERMINATE) return ref.terminate().then((state) => (state === undefined ? EMPTY : encodeOne(kernel.codecs.state, state)));
      const entry = ref.entryForCall();
      const caller: Caller = { principalId: ref.caller.principalId, roles: ref.caller.roles, sourceId: call.source, callId };
      if (call.hlcHi !== 0 || call.hlcLo !== 0) this.local.receiveClock(call.hlcHi, call.hlcLo);
      const what = `call to kernel '${kernel.name}' actor '${ref.key}'`;
      const timeoutMs = this.local.askTimeoutMs;
      switch (call.op) {
        case CallOp.TELL:
          return linkOf(entry).tellMany(entry, caller, wordsBatch(call.payload, call.count, call.words)).then(() => EMPTY);
        case CallOp.ASK: {
          const sink = wordsSink(call.count, kernel.codecs.reply.words);
          return linkOf(entry).askMany(entry, caller, wordsBatch(call.payload, call.count, call.words), { codec: kernel.codecs.reply, what, timeoutMs, sink }).then(() => sink.words);
        }
        case CallOp.SNAPSHOT:
          return linkOf(entry).snapshot(entry, { codec: rawCodec(kernel.codecs.state), what, timeoutMs }) as Promise<Uint32Array>;
        default:
          return Promise.reject(new RingshardError(ErrorCode.REMOTE, `unknown call op ${call.op}`));
      }
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private refFor(call: Call): ActorRef<any, any, any> {
    const k = `${call.kernel}\u0000${call.tenant}\u0000${call.key}\u0000${call.principal}\u0000${call.roles}`;
    let ref = this.refs.get(k);
    if (!ref) {
      ref = this.local.refFor(call.kernel, call.key, call.tenant, call.principal, call.roles);
      if (this.refs.size > CACHE_LIMIT) this.refs.clear();
      this.refs.set(k, ref);
    }
    return ref;
  }

  // ---- membership changes

  private membersChanged(): void {
    this.table = new RendezvousTable(this.membership.members());
    const now = Date.now();
    for (const [k, v] of this.refusedEpochs) if (now - v.at > 60_000) this.refusedEpochs.delete(k);
    for (const from of this.frameSeqs.keys()) if (!this.membership.keyOf(from)) this.frameSeqs.delete(from);
    for (const entry of this.remote.values()) {
      if (this.table.owner(entry.identity)?.node !== entry.node) {
        entry.active = false; // its refs resolve the owner again on their next message
        this.remote.delete(entry.identity);
      }
    }
    for (const entry of [...this.local.directory.entries()]) {
      if (this.table.owner(entry.identity)?.node !== this.self) void this.handOver(entry);
    }
    // Calls out to a leaving node stay: it answers them (or refuses them) before it goes.
    this.remoteLink.membersChanged((n) => this.membership.isAlive(n));
  }

  /** Moves a local actor to its new owner: state to the store, lease released, what waited follows. */
  private handOver(entry: ActorEntry): Promise<void> {
    const running = this.handingOver.get(entry.identity);
    if (running) return running;
    const done = this.doHandOver(entry).finally(() => this.handingOver.delete(entry.identity));
    this.handingOver.set(entry.identity, done);
    return done;
  }

  private async doHandOver(entry: ActorEntry): Promise<void> {
    await this.restoring.get(entry.identity);
    if (!entry.active) return;
    const kernel = this.local.kernel(entry.kernelName)!;
    const key = storeKey(entry.identity);
    const current = entry.link;
    const moving = new MovingLink(current);
    entry.link = moving;
    try {
      const state = (await current.exportState(entry, { codec: rawCodec(kernel.codecs.state), what: `handover of '${entry.key}'`, timeoutMs: this.local.askTimeoutMs })) as Uint32Array;
      const seq = this.options.durable ? Math.max(this.covered.get(key) ?? 0, await this.store.journaled(key)) : 0;
      await this.store.writeSnapshot(key, seq, state);
      this.covered.delete(key);
      this.store.forgetLocal(key);
      this.local.directory.remove(entry);
      this.local.retired(entry);
      await this.store.release(key);
      this.handovers++;
      moving.arrived(departedLink(this.remoteLink, entry, current.index));
    } catch (error) {
      this.local.log(`ringshard: node '${this.self}' could not hand over '${entry.key}': ${(error as Error).message}`);
      entry.link = current;
      moving.arrived(current);
    }
  }

  /** durable: snapshots the actors journaled since the last round, then trims this node's journal behind them. */
  private async snapshotDirty(): Promise<void> {
    // Every local actor by store key, once a round (not a scan per dirty actor).
    const local = new Map<string, ActorEntry>();
    for (const e of this.local.directory.entries()) local.set(storeKey(e.identity), e);
    for (const key of this.store.takeDirty()) {
      const entry = local.get(key);
      if (!entry || !entry.active || !(entry.link instanceof JournalingLink) || this.handingOver.has(entry.identity)) continue;
      const kernel = this.local.kernel(entry.kernelName)!;
      try {
        const seqP = this.store.journaled(key);
        const stateP = entry.link.snapshot(entry, { codec: rawCodec(kernel.codecs.state), what: `snapshot of '${entry.key}'`, timeoutMs: this.local.askTimeoutMs });
        const [seq, state] = await Promise.all([seqP, stateP]);
        const covered = Math.max(seq, this.covered.get(key) ?? 0);
        await this.store.writeSnapshot(key, covered, state as Uint32Array);
        this.covered.set(key, covered);
      } catch (error) {
        this.local.log(`ringshard: snapshot of '${entry.key}' failed: ${(error as Error).message}`);
      }
    }
    // The actors local now: one that arrived during the round may have journaled already.
    const now = [...this.local.directory.entries()].map((e) => storeKey(e.identity));
    await this.store.trimOwn(now, (key) => this.covered.get(key) ?? 0);
  }

  // ---- shutdown

  /** Hands every local actor over (the others take them), then leaves and closes the connection. */
  async leave(): Promise<void> {
    if (this.closed) return;
    this.membership.startLeaving();
    await Promise.allSettled([...this.restoring.values()]);
    await Promise.allSettled([...this.local.directory.entries()].map((e) => this.handOver(e)));
    await Promise.allSettled([...this.handingOver.values()]);
    // Calls still out (to other nodes) get their answers, up to a while.
    const deadline = Date.now() + Math.min(5000, this.local.askTimeoutMs);
    while ((this.remoteLink.pending > 0 || this.serving > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.closed = true;
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.membership.stop();
    this.rpc.unsubscribe();
    this.remoteLink.close(closedError());
    await this.nc.drain().catch(() => {});
  }
}

const REFUSAL_TEXT: Record<RefusalReason, string> = {
  unsigned: 'the frame is not signed',
  'bad-signature': 'the signature does not verify',
  'unknown-node': 'its sender is not known here yet',
  replay: 'the frame was served before',
  'bad-frame': 'the call is malformed (unknown op)',
  'unknown-kernel': 'no such kernel on this node',
  'count-mismatch': "its message count and words per message do not match its payload and the kernel's request",
  schema: "a payload word is not a value the kernel's request schema allows (an f32 field holding NaN or an infinity)",
};
