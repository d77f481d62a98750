import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import { commandMessageSchema, type CommandMessage, type Reply } from './commands';
import type { Actor } from './auth';
import { eventIdFor, handle, type CommandMeta, type Decider } from './decider';
import { conflict, DomainError, forbidden } from './errors';
import { EventEncodingError, type AnyEvent, type EventEnvelope, type EventLog } from './event-log';
import { createConsumer, createProducer, partitionOf, runConsumer } from './kafka';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import { readPartitions } from './partition-reader';
import { ERASED, isSealed, openFields, type Vault } from './pii';
import { isRetriable } from './retry';
import { contextOf, endSpan, SpanKind, startSpan, traceHeaders } from './tracing';
import type { Span } from '@opentelemetry/api';
import {
  readChangelogRecord,
  snapshotMessage,
  stateFingerprint,
  watermarkMessage,
  type Applied,
  type Slot,
  type Watermark,
  NOTHING_APPLIED,
  WATERMARK_KEY,
} from './snapshots';
import type { AggregateTopics } from './topics';
import { sleep } from './wait';

const APPLIED_KEPT = 64;
const COMMAND_ID_HEADER = 'command-id';
const REQUEST_HASH_HEADER = 'request-hash';

/**
 * Bounds that keep every transaction within what the broker takes (message.max.bytes, 1 MiB by default, is per
 * record batch): one command's events at most 256 KiB, and each send at most 512 KiB of records.
 */
export const MAX_COMMAND_EVENT_BYTES = 256 * 1024;
const MAX_SEND_BYTES = 512 * 1024;
/** A record's size on the wire, near enough: key, value, headers and the record's own overhead. */
const messageBytes = (m: Message): number =>
  70 +
  (m.key?.length ?? 0) +
  (m.value?.length ?? 0) +
  Object.entries(m.headers ?? {}).reduce((n, [k, v]) => n + k.length + String(v ?? '').length, 0);

/** Splits messages into sends of at most MAX_SEND_BYTES (a larger single message goes alone). */
function chunks(messages: readonly Message[]): Message[][] {
  const out: Message[][] = [];
  let size = 0;
  for (const m of messages) {
    const bytes = messageBytes(m);
    if (out.length === 0 || size + bytes > MAX_SEND_BYTES) {
      out.push([]);
      size = 0;
    }
    out.at(-1)!.push(m);
    size += bytes;
  }
  return out;
}

/** The fields of a refused command that say whom to answer, where it gives them (strings of sane length). */
function addressOf(parsed: unknown): { commandId?: string; aggregateId?: string; replyTo?: string; type?: string } {
  const o = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const str = (v: unknown, max: number) => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined);
  return { commandId: str(o.commandId, 128), aggregateId: str(o.aggregateId, 128), replyTo: str(o.replyTo, 256), type: str(o.type, 64) };
}

/** The reply refusing a command: a domain rejection, or the refusal of a poison command. */
const rejection = (
  to: { readonly commandId: string; readonly aggregateId: string },
  err: { readonly status: number; readonly code: string; readonly message: string; readonly details?: Readonly<Record<string, unknown>> },
): Reply => ({
  commandId: to.commandId,
  ok: false,
  aggregateId: to.aggregateId,
  status: err.status,
  code: err.code,
  message: err.message,
  details: err.details ?? {},
});

const idempotencyKeyReused = () =>
  new DomainError(
    422,
    'idempotency_key_reused',
    'this Idempotency-Key was used with another request (method, path or body); use a new key for a new request',
  );

function remember(applied: ReadonlyMap<string, Applied>, commandId: string, entry: Applied): Map<string, Applied> {
  const next = new Map(applied);
  next.set(commandId, entry);
  if (next.size > APPLIED_KEPT) next.delete(next.keys().next().value as string);
  return next;
}

export interface CommandProcessorDeps<C extends { readonly type: string }, E extends EventEnvelope, S> {
  kafka: Kafka;
  eventLog: EventLog;
  decider: Decider<C, E, S>;
  topics: AggregateTopics;
  repliesTopic: string;
  /** Where refused commands are copied, with the error and their source in headers. */
  deadLettersTopic: string;
  metrics?: Metrics;
  /** Consumer group of the processors of this aggregate; also the prefix of their transactional ids. */
  groupId: string;
  instanceId: string;
  logger: Logger;
  /** The user who owns the aggregate in a state (null: nobody, e.g. before it exists); a `user` may only command their own. */
  owner?: (state: S, aggregateId: string) => string | null;
  /** The data keys: required when the decider declares `personal` data (its commands and snapshots are sealed). */
  vault?: Vault;
}

/** The aggregates of one owned partition, and how far into its event partition they reach. */
interface Owned<S> {
  readonly partition: number;
  readonly slots: Map<string, Slot<S>>;
  /** The next offset of the event partition not folded into `slots`. */
  position: bigint;
  /** Whether the record at `position` is the commit marker of this processor's own last transaction. */
  marker: boolean;
}

/** What a restore did, for logs, benchmarks and tests. */
export interface RestoreStats {
  readonly partitions: readonly number[];
  readonly snapshots: number;
  readonly events: number;
  /** Partitions folded from their events (no snapshots yet, or snapshots of another state format), and re-snapshotted. */
  readonly folded: readonly number[];
  readonly ms: number;
}

/**
 * The single writer of one aggregate type. Commands are partitioned by aggregate id, and a partition of the
 * command topic is owned by one processor of the consumer group at a time; the owner is the only writer of
 * those aggregates, and holds only them. When partitions are assigned it:
 *  1. fences the previous owner (a transactional id per partition: InitProducerId completes or aborts whatever
 *     it left in flight);
 *  2. restores the partitions' aggregates from the snapshot changelog (lib/snapshots.ts), then folds only the
 *     events past its watermark — or, with no trusted snapshots, every event, and then writes fresh snapshots;
 *  3. decides each command on that state (a command id applied before gets its first result back);
 *  4. in one Kafka transaction appends the events, the snapshots of the aggregates they changed, the replies and
 *     the consumed command offset.
 * A revoked partition's aggregates are dropped; a partition kept across a rebalance keeps them, after folding
 * whatever another owner may have appended in between. Memory and restore time follow the owned aggregates, not
 * the length of the log.
 */
export function createCommandProcessor<C extends { readonly type: string }, E extends EventEnvelope, S>(
  deps: CommandProcessorDeps<C, E, S>,
) {
  const { kafka, eventLog, decider, topics, repliesTopic, deadLettersTopic, groupId, instanceId } = deps;
  const logger = deps.logger.child({ component: 'command-processor', topic: topics.commands, instanceId });
  const fingerprint = stateFingerprint(decider as unknown as Decider<{ type: string }, EventEnvelope, unknown>);
  /** The partitions of the current assignment: restoring (pending) or ready. */
  const owned = new Map<number, Promise<Owned<S>>>();
  /** The ready ones, for `peek` and `size`. */
  const ready = new Map<number, Owned<S>>();
  const restores: RestoreStats[] = [];
  let restoreCount = 0;
  const producers = new Map<number, Promise<Producer>>();
  /** Per partition, the Kafka timestamp of the first command of the batch in flight (until its transaction commits). */
  const inFlight = new Map<number, number>();
  deps.metrics?.trackCommandPartitions(() => [...inFlight].map(([partition, since]) => ({ topic: topics.commands, partition, since })));
  const initial = (): Slot<S> => ({ state: decider.initialState, version: 0, tenantId: null, offset: null, applied: NOTHING_APPLIED });
  const owner = deps.owner ?? (() => null);
  const { personal, vault } = { personal: decider.personal, vault: deps.vault };
  if (personal && !vault) throw new Error(`the writer of ${topics.commands} holds personal data and has no vault`);

  /**
   * The snapshot record of an aggregate: its state sealed under the key of the subject whose personal data it holds
   * (lib/pii.ts). Where that key is destroyed, the state is written with its personal data erased instead.
   */
  async function snapshotOf(partition: number, id: string, slot: Slot<S>): Promise<Message> {
    const subject = personal?.stateSubject(slot.state, id) ?? null;
    if (subject === null) return snapshotMessage(partition, fingerprint, id, slot);
    const sealed = await vault!.seal(subject, JSON.stringify(slot.state));
    const state = sealed === ERASED ? personal!.erase(slot.state) : (sealed as S);
    return snapshotMessage(partition, fingerprint, id, { ...slot, state });
  }

  /** The state of a snapshot read back, opened when sealed; undefined when its key is destroyed (then it is stale). */
  async function openedState(state: S): Promise<S | undefined> {
    if (!isSealed(state)) return state;
    const text = await vault!.open(state);
    try {
      return text === ERASED ? undefined : (JSON.parse(text) as S);
    } catch {
      return undefined;
    }
  }

  /** A command with the personal data of its payload opened (sealed by the bus under its subject's key). */
  async function opened(cmd: CommandMessage): Promise<CommandMessage> {
    if (!personal) return cmd;
    const subject = personal.commandSubject(cmd.aggregateId, cmd.payload);
    return { ...cmd, payload: await openFields(vault!, subject, cmd.payload, personal.commandFields) };
  }

  /**
   * Whether the actor of a command may see the aggregate: internal callers (no actor) always; over HTTP, only
   * within the aggregate's tenant, and a `user` only what they own. Decided here, on the writer's own state —
   * for anybody else the aggregate does not exist (they get the answers of an unknown id: ids don't leak).
   */
  function visibleTo(actor: Actor | null | undefined, slot: Slot<S>, aggregateId: string): boolean {
    if (!actor || slot.version === 0) return true;
    if (slot.tenantId !== actor.tenantId) return false;
    return actor.role === 'tenant_admin' || owner(slot.state, aggregateId) === actor.userId;
  }
  let admin: Admin | undefined;
  let main: Consumer | undefined;

  /** Folds an event read back from the log; events the slot holds already are skipped by version. */
  function applyFromLog(slots: Map<string, Slot<S>>, event: E, headers: Readonly<Record<string, string>>, offset: string): void {
    const commandId = headers[COMMAND_ID_HEADER];
    const slot = slots.get(event.aggregateId) ?? initial();
    if (event.aggregateVersion <= slot.version) return;
    if (event.aggregateVersion !== slot.version + 1) {
      logger.error({ aggregateId: event.aggregateId, at: slot.version, got: event.aggregateVersion }, 'version gap in the event log');
    }
    const applied = commandId
      ? remember(slot.applied, commandId, {
          version: event.aggregateVersion,
          events: (slot.applied.get(commandId)?.events ?? 0) + 1,
          offset,
          requestHash: headers[REQUEST_HASH_HEADER],
        })
      : slot.applied;
    slots.set(event.aggregateId, {
      state: decider.evolve(slot.state, event),
      version: event.aggregateVersion,
      tenantId: slot.tenantId ?? event.tenantId,
      offset,
      applied,
    });
  }

  function producerFor(partition: number): Promise<Producer> {
    let p = producers.get(partition);
    if (!p) {
      p = (async () => {
        const producer = createProducer(kafka, { transactionalId: `${groupId}.p${partition}` });
        await producer.connect();
        // kafkajs sends the transactional InitProducerId only at the first transaction(), not at connect(). Fence
        // now, before the restore reads the partition's last stable offset: the coordinator answers only once a
        // transaction the previous owner left behind (this instance's own, after a failed commit) is completed
        // or aborted, so a commit whose outcome was unknown is in the log before the restore measures it. An
        // empty transaction's abort sends nothing.
        await (await producer.transaction()).abort();
        return producer;
      })();
      p.catch(() => producers.delete(partition));
      producers.set(partition, p);
    }
    return p;
  }

  /** Disconnects the partition's producer — only `which` when given (a newer one may have taken its place). */
  async function dropProducer(partition: number, which?: Promise<Producer>): Promise<void> {
    const p = producers.get(partition);
    if (which !== undefined && p !== which) {
      await which.then((producer) => producer.disconnect()).catch(() => undefined);
      return;
    }
    producers.delete(partition);
    await p?.then((producer) => producer.disconnect()).catch(() => undefined);
  }

  /** One batch of a partition at a time: a batch still in flight from before a rebalance finishes before the next. */
  const partitionLocks = new Map<number, Promise<void>>();
  function serialized(payload: EachBatchPayload): Promise<void> {
    const partition = payload.batch.partition;
    const run = (partitionLocks.get(partition) ?? Promise.resolve()).catch(() => undefined).then(() => processBatch(payload));
    partitionLocks.set(partition, run);
    return run;
  }

  /** How many partitions the (co-partitioned) command, event and snapshot topics have: where each aggregate belongs. */
  let partitions = 0;

  const endsOf = async (topic: string): Promise<Map<number, bigint>> =>
    new Map((await admin!.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));

  /**
   * Makes `parts` ready to decide on: each is fenced, then restored from its snapshots (or taken as `kept` from
   * before a rebalance), then brought up to the end of its event partition. Partitions folded from their events
   * get fresh snapshots. One read of the snapshot topic and one of the event topic serve all of them.
   */
  async function restore(
    parts: readonly number[],
    kept: ReadonlyMap<number, Owned<S>>,
    signal: AbortSignal,
  ): Promise<Map<number, Owned<S>>> {
    const started = Date.now();
    await Promise.all(parts.map((p) => producerFor(p)));
    const [snapshotEnds, eventEnds] = await Promise.all([endsOf(topics.snapshots), endsOf(topics.events)]);
    if (snapshotEnds.size !== eventEnds.size) {
      throw new Error(
        `${topics.snapshots} has ${snapshotEnds.size} partitions and ${topics.events} ${eventEnds.size}: they must be co-partitioned`,
      );
    }
    partitions = eventEnds.size;
    const run = ++restoreCount;
    const states = new Map<number, Owned<S>>();
    const fresh = parts.filter((p) => !kept.has(p));
    for (const p of parts) if (kept.has(p)) states.set(p, kept.get(p)!);

    // 1. The snapshots of the partitions that are new to this processor, and their watermarks.
    // Only the latest record of each key counts (compaction may not have dropped the older ones yet): a partition
    // is trusted when its latest watermark and every latest snapshot are of this decider's state format.
    const marks = new Map<number, Watermark>();
    const stale = new Map<number, Map<string, string>>(fresh.map((p) => [p, new Map()]));
    const found = new Map<number, Map<string, Slot<S>>>(fresh.map((p) => [p, new Map()]));
    let snapshots = 0;
    await readPartitions(kafka, {
      group: `${groupId}.restore.${instanceId}.${run}.snapshots`,
      topic: topics.snapshots,
      ranges: new Map(fresh.map((p) => [p, { from: 0n, to: snapshotEnds.get(p) ?? 0n }])),
      logger,
      signal,
      eachBatch: (partition, messages) => {
        for (const m of messages) {
          if (m.value === null) continue;
          const key = m.key?.toString() ?? '';
          const entry = readChangelogRecord<S>(key, m.value, fingerprint);
          stale.get(partition)!.delete(key);
          found.get(partition)!.delete(key);
          if (key === WATERMARK_KEY) marks.delete(partition);
          if (entry.kind === 'watermark') marks.set(partition, entry.mark);
          else if (entry.kind === 'snapshot') found.get(partition)!.set(entry.aggregateId, entry.slot);
          else stale.get(partition)!.set(key, entry.why);
          snapshots += 1;
        }
      },
    });
    for (const p of fresh) {
      for (const [id, slot] of found.get(p)!) {
        const state = await openedState(slot.state);
        if (state === undefined) stale.get(p)!.set(id, 'a sealed snapshot whose key is destroyed');
        else if (state !== slot.state) found.get(p)!.set(id, { ...slot, state });
      }
    }
    const folded: number[] = [];
    for (const p of fresh) {
      const mark = marks.get(p);
      const why = stale.get(p)!.values().next().value;
      if (mark && why === undefined) {
        states.set(p, { partition: p, slots: found.get(p)!, position: mark.offset, marker: mark.marker });
        continue;
      }
      if ((eventEnds.get(p) ?? 0n) > 0n) {
        folded.push(p);
        logger.warn({ partition: p, why: why ?? 'no snapshots yet' }, 'folding the partition from its events');
      }
      states.set(p, { partition: p, slots: new Map(), position: 0n, marker: false });
    }

    // 2. The events past what each partition holds. When the only record there is this processor's own commit
    // marker (the watermark of a command batch), there is nothing to read.
    let events = 0;
    const ranges = new Map<number, { from: bigint; to: bigint }>();
    for (const [p, o] of states) {
      const end = eventEnds.get(p) ?? 0n;
      if (end > o.position + (o.marker ? 1n : 0n)) ranges.set(p, { from: o.position, to: end });
    }
    await readPartitions(kafka, {
      group: `${groupId}.restore.${instanceId}.${run}.events`,
      topic: topics.events,
      ranges,
      logger,
      signal,
      eachBatch: async (partition, messages) => {
        const o = states.get(partition)!;
        for (const message of messages) {
          try {
            const record = await eventLog.decodeMessage(topics.events, partition, message);
            applyFromLog(o.slots, record.event as unknown as E, record.headers, message.offset);
            events += 1;
          } catch (err) {
            // The registry is unreachable: read the batch again. Anything else is a record that no writer of this
            // platform made (written straight into the topic): it is no event of any aggregate, and skipped.
            if (isRetriable(err)) throw err;
            logger.error(
              { partition, offset: message.offset, err: (err as Error).message },
              'skipping a record of the event log that is no event',
            );
          }
        }
      },
    });
    for (const [p, r] of ranges) {
      const o = states.get(p)!;
      o.position = r.to;
      o.marker = false;
    }

    // 3. Fresh snapshots where the events were folded: the next restore reads those, not the events.
    for (const p of folded) {
      signal.throwIfAborted();
      await writeSnapshots(states.get(p)!);
    }

    const stats: RestoreStats = { partitions: [...parts], snapshots, events, folded, ms: Date.now() - started };
    restores.push(stats);
    if (restores.length > 100) restores.shift();
    logger.info({ ...stats, aggregates: [...states.values()].reduce((n, o) => n + o.slots.size, 0) }, 'partitions restored');
    return states;
  }

  /** Writes every aggregate of a partition and its watermark to the changelog, in one transaction. */
  async function writeSnapshots(o: Owned<S>): Promise<void> {
    const producer = await producerFor(o.partition);
    const messages = await Promise.all([...o.slots].map(([id, slot]) => snapshotOf(o.partition, id, slot)));
    messages.push(watermarkMessage(o.partition, fingerprint, { offset: o.position, marker: false }));
    const txn = await producer.transaction();
    try {
      for (const chunk of chunks(messages)) await txn.send({ topic: topics.snapshots, acks: -1, messages: chunk });
      await txn.commit();
    } catch (err) {
      await txn.abort().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Starts making these partitions ready (one restore for all of them); a batch of one waits for it. A failed
   * restore is forgotten, so that the partition's next batch starts another.
   */
  let restoring = new AbortController();
  const restoringAborted = (err: Error) => err.name === 'AbortError';
  function prepare(parts: readonly number[], kept: ReadonlyMap<number, Owned<S>> = new Map()): void {
    if (parts.length === 0) return;
    const all = restore(parts, kept, restoring.signal);
    for (const p of parts) {
      const one = all.then((states) => states.get(p)!);
      owned.set(p, one);
      one.then(
        (o) => (owned.get(p) === one ? ready.set(p, o) : undefined),
        (err: Error) => {
          if (owned.get(p) === one) owned.delete(p);
          if (!restoringAborted(err))
            logger.warn({ partition: p, err: err.message }, 'restoring a partition failed; its next batch restores it again');
        },
      );
    }
  }

  /** A new assignment: revoked partitions are dropped, kept ones verified, new ones restored. */
  /** The command partitions of the current assignment (null before the first). */
  let assignment: ReadonlySet<number> | null = null;
  function assigned(parts: ReadonlySet<number>): void {
    assignment = parts;
    // A restore still running for the previous assignment stops reading: what it had not finished is restored
    // again below if this instance still owns it (a member that joined first was given every partition for a
    // moment, and would otherwise read them all).
    restoring.abort();
    restoring = new AbortController();
    const kept = new Map<number, Owned<S>>();
    for (const p of [...owned.keys()]) {
      if (parts.has(p) && ready.has(p)) kept.set(p, ready.get(p)!);
      owned.delete(p);
      ready.delete(p);
    }
    // Every partition starts the generation with a new transactional producer: InitProducerId fences whatever an
    // earlier owner — this instance included — left in flight.
    inFlight.clear();
    for (const [partition, p] of [...producers]) void dropProducer(partition, p);
    prepare([...parts], kept);
  }

  /** The partition's aggregates, once ready; the consumer keeps heart-beating while a restore runs. */
  async function readyPartition(payload: EachBatchPayload): Promise<Owned<S>> {
    const partition = payload.batch.partition;
    const beat = setInterval(() => void payload.heartbeat().catch(() => undefined), 1000);
    try {
      for (;;) {
        if (!owned.has(partition)) prepare([partition]);
        const pending = owned.get(partition)!;
        try {
          return await pending;
        } catch (err) {
          // Cancelled by a new assignment that restores it again: wait for that one.
          if (owned.has(partition) && owned.get(partition) !== pending) continue;
          throw err;
        }
      }
    } finally {
      clearInterval(beat);
    }
  }

  /** What one batch produces: the events and replies of its accepted commands, and the dead letters of its poison. */
  interface BatchOut {
    readonly work: Map<string, Slot<S>>;
    readonly events: Array<{ message: Message; commandId: string }>;
    readonly replies: Array<{ to: string; reply: Reply; lastEvent: number }>;
    readonly deadLetters: Message[];
    /** The spans of its commands, ended when its transaction is (lib/tracing.ts). */
    readonly spans: Span[];
  }

  /**
   * Refuses a command for good: a rejection reply when the command can be addressed (it names its id and its
   * reply topic key), and a copy on the command dead-letter topic with the error and the source in headers.
   */
  function poison(
    out: BatchOut,
    source: { partition: number; message: KafkaMessage; parsed: unknown },
    error: { status: 400 | 413 | 422 | 500; code: string; message: string; details?: Record<string, unknown> },
  ): void {
    const { commandId, aggregateId, replyTo, type } = addressOf(source.parsed);
    logger.warn(
      { partition: source.partition, offset: source.message.offset, code: error.code, err: error.message },
      'command refused as poison',
    );
    deps.metrics?.commandDeadLetters.inc({ topic: topics.commands, code: error.code });
    out.deadLetters.push({
      key: source.message.key,
      value: source.message.value,
      headers: {
        'source-topic': topics.commands,
        'source-partition': String(source.partition),
        'source-offset': source.message.offset,
        'command-type': type ?? '',
        'command-id': commandId ?? '',
        'error-code': error.code,
        error: error.message.slice(0, 1000),
        ...(error.details?.errorId ? { 'error-id': String(error.details.errorId) } : {}),
      },
    });
    if (commandId === undefined || replyTo === undefined) return;
    out.replies.push({ to: replyTo, reply: rejection({ commandId, aggregateId: aggregateId ?? '' }, error), lastEvent: -1 });
  }

  /** Decides one command of a batch; its content can make it refused, never make the batch fail. */
  type Source = { partition: number; message: KafkaMessage; parsed: unknown };
  type Refusal = Parameters<typeof poison>[2];
  type Decided = { events: E[]; state: S; version: number };

  /**
   * Decides one command of a batch, in named steps: admitted (JSON, well-formed, on its aggregate's partition, a
   * known type), answered from memory when it was applied before, decided, its events encoded and sized, recorded.
   * A step that refuses the command answers it (a rejection, or poison with a dead letter) and ends it.
   */
  async function decideOne(out: BatchOut, o: Owned<S>, message: KafkaMessage): Promise<void> {
    const admitted = admit(o.partition, message);
    if ('refusal' in admitted) return poison(out, admitted.source, admitted.refusal);
    const { source } = admitted;
    const cmd = await opened(admitted.cmd);
    // The command's span (a child of the request's, from the command's headers) ends with the batch's transaction.
    const span = startSpan(`decide ${cmd.type}`, {
      parent: contextOf(message.headers),
      kind: SpanKind.CONSUMER,
      attributes: {
        'cloudphone.command_id': cmd.commandId,
        'cloudphone.correlation_id': cmd.correlationId,
        'cloudphone.aggregate_id': cmd.aggregateId,
        'messaging.destination.partition.id': String(o.partition),
      },
    });
    out.spans.push(span);
    const stored = out.work.get(cmd.aggregateId) ?? o.slots.get(cmd.aggregateId) ?? initial();
    const visible = visibleTo(cmd.actor, stored, cmd.aggregateId);
    const slot = visible ? stored : initial();
    if (answeredBefore(out, cmd, slot, o.partition)) return;
    const result = decideCommand(out, cmd, slot, visible, source);
    if (!result) return;
    span.setAttribute('cloudphone.events', result.events.length);
    const messages = await encodeEvents(out, cmd, result, source, traceHeaders(span));
    if (!messages) return;
    record(out, cmd, stored, slot, result, messages);
  }

  /** The command, or why it is poison: not JSON, malformed, keyed or placed apart from its aggregate, unknown. */
  function admit(partition: number, message: KafkaMessage): { cmd: CommandMessage; source: Source } | { refusal: Refusal; source: Source } {
    let json: unknown;
    try {
      json = JSON.parse(message.value?.toString('utf8') ?? '');
    } catch {
      return {
        source: { partition, message, parsed: undefined },
        refusal: { status: 400, code: 'malformed_command', message: 'the command is not JSON' },
      };
    }
    const source = { partition, message, parsed: json };
    const parsed = commandMessageSchema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 10).map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`);
      return { source, refusal: { status: 400, code: 'malformed_command', message: `the command is malformed: ${issues.join('; ')}` } };
    }
    const cmd: CommandMessage = parsed.data;
    // A command keyed or placed apart from its aggregate would have its events land on another writer's partition.
    if (message.key?.toString() !== cmd.aggregateId || partitionOf(cmd.aggregateId, partitions) !== partition) {
      return {
        source,
        refusal: {
          status: 400,
          code: 'misrouted_command',
          message: `a command must be keyed by its aggregate id and sit on that id's partition (${topics.commands}/${partition} holds it)`,
        },
      };
    }
    if (!Object.hasOwn(decider.commands, cmd.type)) {
      return { source, refusal: { status: 400, code: 'unknown_command', message: `unknown command type "${cmd.type}"` } };
    }
    return { cmd, source };
  }

  /** A command applied before gets its first result again (a reused Idempotency-Key with another request: 422). */
  function answeredBefore(out: BatchOut, cmd: CommandMessage, slot: Slot<S>, partition: number): boolean {
    const before = slot.applied.get(cmd.commandId);
    if (!before) return false;
    if (before.requestHash !== undefined && cmd.requestHash !== undefined && before.requestHash !== cmd.requestHash) {
      out.replies.push({ to: cmd.replyTo, reply: rejection(cmd, idempotencyKeyReused()), lastEvent: -1 });
      return true;
    }
    out.replies.push({ to: cmd.replyTo, reply: firstResult(cmd, partition, before), lastEvent: -1 });
    return true;
  }

  /** The decider's answer, or undefined once a refusal (a domain rejection, or a bug: poison) is answered. */
  function decideCommand(out: BatchOut, cmd: CommandMessage, slot: Slot<S>, visible: boolean, source: Source): Decided | undefined {
    try {
      const { replyTo: _r, payload, ...meta } = cmd;
      const result = handle(decider, slot, { ...payload, ...meta } as unknown as C & CommandMeta);
      // Out of the actor's sight the decider answered as for an unknown id (a 404); a create there would clash
      // with the hidden aggregate (ids are made by the API, so only a key collision gets here).
      if (!visible) throw conflict('the id is already in use');
      if (result.events.length > 0 && cmd.actor?.role === 'user' && owner(result.state, cmd.aggregateId) !== cmd.actor.userId) {
        throw forbidden('a user may only command their own resources');
      }
      return result;
    } catch (err) {
      if (err instanceof DomainError) {
        out.replies.push({ to: cmd.replyTo, reply: rejection(cmd, err), lastEvent: -1 });
        return undefined;
      }
      // A bug (or a payload the decider cannot read): answered, logged with an id, dead-lettered, never retried.
      const errorId = randomUUID();
      logger.error({ err, errorId, commandId: cmd.commandId, type: cmd.type }, 'command failed with an unexpected error');
      poison(out, source, {
        status: 500,
        code: 'internal',
        message: `internal error ${errorId}; the command was logged`,
        details: { errorId },
      });
      return undefined;
    }
  }

  /**
   * The events as Kafka messages, encoded now so that an event that does not fit its schema, or events too large
   * for the broker, refuse this command and not the batch; undefined once that refusal is answered.
   */
  async function encodeEvents(
    out: BatchOut,
    cmd: CommandMessage,
    result: Decided,
    source: Source,
    trace: Record<string, string>,
  ): Promise<Message[] | undefined> {
    let messages: Message[];
    try {
      const headers = {
        [COMMAND_ID_HEADER]: cmd.commandId,
        ...(cmd.requestHash ? { [REQUEST_HASH_HEADER]: cmd.requestHash } : {}),
        ...trace,
      };
      messages = await Promise.all(result.events.map((e) => eventLog.toMessage(topics.events, e as unknown as AnyEvent, headers)));
    } catch (err) {
      if (!(err instanceof EventEncodingError)) throw err; // the registry is unreachable: the batch is retried
      poison(out, source, {
        status: 422,
        code: 'unencodable_event',
        message: `the command's events do not fit their schema: ${err.paths.slice(0, 5).join(', ') || err.message}`,
        details: { errors: err.paths.slice(0, 20) },
      });
      return undefined;
    }
    const size = messages.reduce((n, m) => n + messageBytes(m), 0);
    if (size > MAX_COMMAND_EVENT_BYTES) {
      poison(out, source, {
        status: 413,
        code: 'events_too_large',
        message: `the command's events take ${size} bytes; at most ${MAX_COMMAND_EVENT_BYTES} are appended for one command`,
      });
      return undefined;
    }
    return messages;
  }

  /** The command's events, its aggregate's new state and its reply, into the batch's output. */
  function record(out: BatchOut, cmd: CommandMessage, stored: Slot<S>, slot: Slot<S>, result: Decided, messages: Message[]): void {
    const eventIds = result.events.map((e) => e.eventId);
    const lastEvent = out.events.length;
    out.events.push(...messages.map((m) => ({ message: m, commandId: cmd.commandId })));
    // A no-op on an aggregate that does not exist leaves nothing to hold (its retry is decided again, the same way).
    if (result.version > 0)
      out.work.set(cmd.aggregateId, {
        state: result.state,
        version: result.version,
        tenantId: stored.tenantId ?? result.events[0]?.tenantId ?? null,
        offset: slot.offset,
        applied: remember(slot.applied, cmd.commandId, {
          version: result.version,
          events: eventIds.length,
          offset: null,
          requestHash: cmd.requestHash,
        }),
      });
    const reply: Reply = {
      commandId: cmd.commandId,
      ok: true,
      aggregateId: cmd.aggregateId,
      version: result.version,
      eventIds,
      duplicate: false,
      position: null,
    };
    out.replies.push({ to: cmd.replyTo, reply, lastEvent: eventIds.length > 0 ? lastEvent + eventIds.length - 1 : -1 });
  }

  /** The reply a retry of an applied command gets: its first result, marked as a duplicate. */
  function firstResult(cmd: CommandMessage, partition: number, a: Applied): Reply {
    return {
      commandId: cmd.commandId,
      ok: true,
      aggregateId: cmd.aggregateId,
      version: a.version,
      eventIds: Array.from({ length: a.events }, (_, i) => eventIdFor(cmd.commandId, i)),
      duplicate: true,
      position: a.offset === null ? null : { topic: topics.events, partition, offset: a.offset },
    };
  }

  async function processBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const partition = batch.partition;
    if (batch.messages.length === 0) return;
    // A batch fetched before a rebalance took the partition away: its new owner reads it from the committed offset
    // (restoring it here would fence that owner's producer).
    if (assignment !== null && !assignment.has(partition)) return;
    inFlight.set(partition, Number(batch.messages[0]!.timestamp));
    const o = await readyPartition(payload);
    const producerRef = producerFor(partition);
    const producer = await producerRef;

    const out: BatchOut = { work: new Map(), events: [], replies: [], deadLetters: [], spans: [] };
    for (const message of batch.messages) await decideOne(out, o, message);
    const { work, events, replies } = out;

    const lastOffset = batch.lastOffset();
    const txn = await producer.transaction();
    let next: bigint | null = null;
    try {
      if (events.length > 0) {
        // In sends the broker takes (a record batch under its maximum message size), each at known offsets.
        let sent = 0;
        const offsets: bigint[] = [];
        for (const chunk of chunks(events.map((e) => e.message))) {
          const written = await txn.send({ topic: topics.events, acks: -1, messages: chunk });
          if (written.length !== 1 || written[0]!.partition !== partition) {
            throw new Error(`events of ${topics.commands}/${partition} were not all written to partition ${partition}`);
          }
          const base = BigInt(written[0]!.baseOffset!);
          chunk.forEach((_m, i) => (offsets[sent + i] = base + BigInt(i)));
          sent += chunk.length;
        }
        // Each reply (and the processor's memory of the command) carries the position of the command's last event.
        for (const r of replies) {
          if (!r.reply.ok || r.lastEvent < 0) continue;
          const offset = offsets[r.lastEvent]!.toString();
          r.reply = { ...r.reply, position: { topic: topics.events, partition, offset } };
          const slot = work.get(r.reply.aggregateId)!;
          const entry = slot.applied.get(r.reply.commandId)!;
          work.set(r.reply.aggregateId, { ...slot, offset, applied: remember(slot.applied, r.reply.commandId, { ...entry, offset }) });
        }
        next = offsets.at(-1)! + 1n;
      }
      // The snapshots of the aggregates the batch changed (and of those whose no-op commands it remembers) with the
      // watermark past the batch's events, the replies and the dead letters: in the same transaction as the events,
      // in as few requests as their sizes allow (one, mostly: a request per send is a round trip per batch).
      const snapshots = await Promise.all([...work].map(([id, slot]) => snapshotOf(partition, id, slot)));
      if (next !== null) snapshots.push(watermarkMessage(partition, fingerprint, { offset: next, marker: true }));
      const replyMessages = replies.map(({ to, reply }) => ({ key: to, value: JSON.stringify(reply) }));
      const perTopic = [
        { topic: topics.snapshots, chunks: chunks(snapshots) },
        { topic: repliesTopic, chunks: chunks(replyMessages) },
        { topic: deadLettersTopic, chunks: chunks(out.deadLetters) },
      ];
      for (let i = 0; perTopic.some((t) => i < t.chunks.length); i++) {
        const topicMessages = perTopic.filter((t) => i < t.chunks.length).map((t) => ({ topic: t.topic, messages: t.chunks[i]! }));
        await txn.sendBatch({ acks: -1, topicMessages });
      }
      await txn.sendOffsets({
        consumerGroupId: groupId,
        topics: [{ topic: topics.commands, partitions: [{ partition, offset: (BigInt(lastOffset) + 1n).toString() }] }],
      });
      await txn.commit();
      for (const span of out.spans) endSpan(span);
    } catch (err) {
      for (const span of out.spans) endSpan(span, err);
      await txn.abort().catch(() => undefined);
      // The outcome may be unknown (e.g. the commit reached the broker): restore the partition before deciding again.
      if (owned.get(partition) !== undefined && ready.get(partition) === o) {
        owned.delete(partition);
        ready.delete(partition);
      }
      await dropProducer(partition, producerRef);
      logger.warn({ partition, err: (err as Error).message }, 'command batch transaction failed; the batch will be retried');
      throw err;
    }
    inFlight.delete(partition);
    for (const [id, slot] of work) o.slots.set(id, slot);
    if (next !== null) {
      o.position = next;
      o.marker = true;
    }
  }

  return {
    async start(): Promise<void> {
      admin = kafka.admin();
      await admin.connect();
      main = createConsumer(kafka, groupId);
      main.on(main.events.GROUP_JOIN, ({ payload }) => {
        assigned(new Set(payload.memberAssignment[topics.commands] ?? []));
      });
      await runConsumer(main, {
        topics: [topics.commands],
        fromBeginning: true,
        logger,
        what: groupId,
        run: { autoCommit: false, partitionsConsumedConcurrently: 64, eachBatch: serialized },
      });
    },
    async stop(): Promise<void> {
      await main?.disconnect();
      await Promise.all([...producers.keys()].map((p) => dropProducer(p)));
      await admin?.disconnect();
    },
    /** The current state of an aggregate, when this processor owns it (for tests and diagnostics). */
    peek: (aggregateId: string): Slot<S> | undefined => {
      for (const o of ready.values()) {
        const slot = o.slots.get(aggregateId);
        if (slot) return slot;
      }
      return undefined;
    },
    /** The partitions this processor owns and has restored, and how many aggregates it holds. */
    holding: () => ({
      partitions: [...ready.keys()].sort((a, b) => a - b),
      aggregates: [...ready.values()].reduce((n, o) => n + o.slots.size, 0),
    }),
    /** The last restores (at most 100), oldest first. */
    restores: (): readonly RestoreStats[] => [...restores],
    /** Resolves once every partition of the current assignment is restored. */
    /**
     * Resolves once every partition of the current assignment is restored; never rejects. A restore that failed or
     * was cancelled by a new assignment is started again here rather than at the partition's next batch.
     */
    whenReady: async (): Promise<void> => {
      for (;;) {
        for (const p of assignment ?? []) if (!owned.has(p)) prepare([p]);
        await Promise.allSettled([...owned.values()]);
        if ([...owned.keys()].every((p) => ready.has(p)) && [...(assignment ?? [])].every((p) => owned.has(p))) return;
        await sleep(100);
      }
    },
  };
}

export type CommandProcessor = ReturnType<typeof createCommandProcessor>;
