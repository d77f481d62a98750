import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import { commandMessageSchema, type CommandMessage, type Position, type Reply } from './commands';
import type { Actor } from './auth';
import { handle, type CommandMeta, type Decider } from './decider';
import { conflict, DomainError, forbidden } from './errors';
import { EventEncodingError, type AnyEvent, type EventEnvelope, type EventLog } from './event-log';
import { createConsumer, createProducer, partitionOf, runConsumer } from './kafka';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import { isTransient } from './retry';
import { waitFor } from './wait';
import type { AggregateTopics } from './topics';

/** What the processor remembers of a command it applied: enough to answer a retry with the first result. */
interface Applied {
  readonly version: number;
  readonly eventIds: readonly string[];
  readonly position: Position | null;
  /** The digest of the request that sent it (lib/http.ts), when it came with an Idempotency-Key. */
  readonly requestHash?: string;
}

interface Slot<S> {
  readonly state: S;
  readonly version: number;
  /** The tenant of the aggregate (of its first event); null while it does not exist. */
  readonly tenantId: string | null;
  /** The last commands applied to the aggregate, by command id (bounded). */
  readonly applied: ReadonlyMap<string, Applied>;
}

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
  /** How long a newly assigned partition may take to catch up with its event log. */
  catchUpTimeoutMs?: number;
  /** The user who owns the aggregate in a state (null: nobody, e.g. before it exists); a `user` may only command their own. */
  owner?: (state: S, aggregateId: string) => string | null;
}

/**
 * The single writer of one aggregate type. Commands are partitioned by aggregate id, and a partition of the
 * command topic is owned by one processor of the consumer group at a time; the owner is the only writer of
 * those aggregates. For each batch of a partition it:
 *  1. makes sure its state has every event of the co-partitioned event partition (after fencing the previous
 *     owner with a transactional id per partition, it waits until its event tail reaches the partition's
 *     last stable offset);
 *  2. decides each command on that state (a command id applied before gets its first result back);
 *  3. in one Kafka transaction appends the events, the replies and the consumed command offset.
 * State is hydrated by a tail consumer that reads the event topic from the beginning, so a restart or a
 * rebalance never loses an update, and versions stay 1..N without gaps.
 */
export function createCommandProcessor<C extends { readonly type: string }, E extends EventEnvelope, S>(
  deps: CommandProcessorDeps<C, E, S>,
) {
  const { kafka, eventLog, decider, topics, repliesTopic, deadLettersTopic, groupId, instanceId } = deps;
  const logger = deps.logger.child({ component: 'command-processor', topic: topics.commands, instanceId });
  const slots = new Map<string, Slot<S>>();
  const tailPosition = new Map<number, bigint>();
  const verified = new Set<number>();
  const producers = new Map<number, Promise<Producer>>();
  /** Per partition, the Kafka timestamp of the first command of the batch in flight (until its transaction commits). */
  const inFlight = new Map<number, number>();
  deps.metrics?.trackCommandPartitions(() => [...inFlight].map(([partition, since]) => ({ topic: topics.commands, partition, since })));
  const initial = (): Slot<S> => ({ state: decider.initialState, version: 0, tenantId: null, applied: new Map() });
  const owner = deps.owner ?? (() => null);

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
  let tail: Consumer | undefined;
  let main: Consumer | undefined;

  /** Folds an event read back from the log; events this processor applied already are skipped by version. */
  function applyFromLog(event: E, headers: Readonly<Record<string, string>>, position: Position): void {
    const commandId = headers[COMMAND_ID_HEADER];
    const slot = slots.get(event.aggregateId) ?? initial();
    if (event.aggregateVersion <= slot.version) return;
    if (event.aggregateVersion !== slot.version + 1) {
      logger.error({ aggregateId: event.aggregateId, at: slot.version, got: event.aggregateVersion }, 'version gap in the event log');
    }
    const applied = commandId
      ? remember(slot.applied, commandId, {
          version: event.aggregateVersion,
          eventIds: [...(slot.applied.get(commandId)?.eventIds ?? []), event.eventId],
          position,
          requestHash: headers[REQUEST_HASH_HEADER],
        })
      : slot.applied;
    slots.set(event.aggregateId, {
      state: decider.evolve(slot.state, event),
      version: event.aggregateVersion,
      tenantId: slot.tenantId ?? event.tenantId,
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
        // now, before the catch-up reads the partition's last stable offset: the coordinator answers only once a
        // transaction the previous owner left behind (this instance's own, after a failed commit) is completed
        // or aborted, so a commit whose outcome was unknown is in the log before the catch-up measures it. An
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

  /** How many partitions the (co-partitioned) command and event topics have: where each aggregate's commands belong. */
  let partitions = 0;

  /** Waits until the tail has read the event partition up to its last stable offset. */
  async function catchUp(partition: number): Promise<void> {
    const offsets = await admin!.fetchTopicOffsets(topics.events);
    partitions = offsets.length;
    const target = BigInt(offsets.find((o) => o.partition === partition)?.offset ?? '0');
    await waitFor(() => ((tailPosition.get(partition) ?? 0n) >= target ? true : undefined), {
      what: `the event tail of ${topics.events}/${partition} to reach offset ${target}`,
      timeoutMs: deps.catchUpTimeoutMs ?? 60_000,
      intervalMs: 5,
    });
  }

  /** What one batch produces: the events and replies of its accepted commands, and the dead letters of its poison. */
  interface BatchOut {
    readonly work: Map<string, Slot<S>>;
    readonly events: Array<{ message: Message; commandId: string }>;
    readonly replies: Array<{ to: string; reply: Reply; lastEvent: number }>;
    readonly deadLetters: Message[];
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
  async function decideOne(out: BatchOut, partition: number, message: KafkaMessage): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(message.value?.toString('utf8') ?? '');
    } catch {
      return poison(
        out,
        { partition, message, parsed: undefined },
        { status: 400, code: 'malformed_command', message: 'the command is not JSON' },
      );
    }
    const source = { partition, message, parsed: json };
    const parsed = commandMessageSchema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 10).map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`);
      return poison(out, source, { status: 400, code: 'malformed_command', message: `the command is malformed: ${issues.join('; ')}` });
    }
    const cmd: CommandMessage = parsed.data;
    // A command keyed or placed apart from its aggregate would have its events land on another writer's partition.
    if (message.key?.toString() !== cmd.aggregateId || partitionOf(cmd.aggregateId, partitions) !== partition) {
      return poison(out, source, {
        status: 400,
        code: 'misrouted_command',
        message: `a command must be keyed by its aggregate id and sit on that id's partition (${topics.commands}/${partition} holds it)`,
      });
    }
    if (!Object.hasOwn(decider.commands, cmd.type)) {
      return poison(out, source, { status: 400, code: 'unknown_command', message: `unknown command type "${cmd.type}"` });
    }
    const stored = out.work.get(cmd.aggregateId) ?? slots.get(cmd.aggregateId) ?? initial();
    const visible = visibleTo(cmd.actor, stored, cmd.aggregateId);
    const slot = visible ? stored : initial();
    const before = slot.applied.get(cmd.commandId);
    if (before) {
      if (before.requestHash !== undefined && cmd.requestHash !== undefined && before.requestHash !== cmd.requestHash) {
        const reply = rejection(cmd, idempotencyKeyReused());
        out.replies.push({ to: cmd.replyTo, reply, lastEvent: -1 });
        return;
      }
      const { requestHash: _h, ...first } = before;
      out.replies.push({
        to: cmd.replyTo,
        reply: { commandId: cmd.commandId, ok: true, aggregateId: cmd.aggregateId, ...first, duplicate: true },
        lastEvent: -1,
      });
      return;
    }
    let result: { events: E[]; state: S; version: number };
    try {
      const { replyTo: _r, payload, ...meta } = cmd;
      result = handle(decider, slot, { ...payload, ...meta } as unknown as C & CommandMeta);
      // Out of the actor's sight the decider answered as for an unknown id (a 404); a create there would clash
      // with the hidden aggregate (ids are made by the API, so only a key collision gets here).
      if (!visible) throw conflict('the id is already in use');
      if (result.events.length > 0 && cmd.actor?.role === 'user' && owner(result.state, cmd.aggregateId) !== cmd.actor.userId) {
        throw forbidden('a user may only command their own resources');
      }
    } catch (err) {
      if (err instanceof DomainError) {
        out.replies.push({ to: cmd.replyTo, reply: rejection(cmd, err), lastEvent: -1 });
        return;
      }
      // A bug (or a payload the decider cannot read): answered, logged with an id, dead-lettered, never retried.
      const errorId = randomUUID();
      logger.error({ err, errorId, commandId: cmd.commandId, type: cmd.type }, 'command failed with an unexpected error');
      return poison(out, source, {
        status: 500,
        code: 'internal',
        message: `internal error ${errorId}; the command was logged`,
        details: { errorId },
      });
    }

    // Encoded now, so that an event that does not fit its schema or the broker refuses this command, not the batch.
    let messages: Message[];
    try {
      const headers = { [COMMAND_ID_HEADER]: cmd.commandId, ...(cmd.requestHash ? { [REQUEST_HASH_HEADER]: cmd.requestHash } : {}) };
      messages = await Promise.all(result.events.map((e) => eventLog.toMessage(topics.events, e as unknown as AnyEvent, headers)));
    } catch (err) {
      if (!(err instanceof EventEncodingError)) throw err; // the registry is unreachable: the batch is retried
      return poison(out, source, {
        status: 422,
        code: 'unencodable_event',
        message: `the command's events do not fit their schema: ${err.paths.slice(0, 5).join(', ') || err.message}`,
        details: { errors: err.paths.slice(0, 20) },
      });
    }
    const size = messages.reduce((n, m) => n + messageBytes(m), 0);
    if (size > MAX_COMMAND_EVENT_BYTES) {
      return poison(out, source, {
        status: 413,
        code: 'events_too_large',
        message: `the command's events take ${size} bytes; at most ${MAX_COMMAND_EVENT_BYTES} are appended for one command`,
      });
    }

    const eventIds = result.events.map((e) => e.eventId);
    const lastEvent = out.events.length;
    out.events.push(...messages.map((m) => ({ message: m, commandId: cmd.commandId })));
    out.work.set(cmd.aggregateId, {
      state: result.state,
      version: result.version,
      tenantId: stored.tenantId ?? result.events[0]?.tenantId ?? null,
      applied: remember(slot.applied, cmd.commandId, { version: result.version, eventIds, position: null, requestHash: cmd.requestHash }),
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

  async function processBatch({ batch }: EachBatchPayload): Promise<void> {
    const partition = batch.partition;
    if (batch.messages.length === 0) return;
    inFlight.set(partition, Number(batch.messages[0]!.timestamp));
    const producerRef = producerFor(partition);
    const producer = await producerRef;
    if (!verified.has(partition)) {
      await catchUp(partition);
      verified.add(partition);
    }

    const out: BatchOut = { work: new Map(), events: [], replies: [], deadLetters: [] };
    for (const message of batch.messages) await decideOne(out, partition, message);
    const { work, events, replies } = out;

    const lastOffset = batch.lastOffset();
    const txn = await producer.transaction();
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
          const position = { topic: topics.events, partition, offset: offsets[r.lastEvent]!.toString() };
          r.reply = { ...r.reply, position };
          const slot = work.get(r.reply.aggregateId)!;
          const entry = slot.applied.get(r.reply.commandId)!;
          work.set(r.reply.aggregateId, { ...slot, applied: remember(slot.applied, r.reply.commandId, { ...entry, position }) });
        }
      }
      const replyMessages = replies.map(({ to, reply }) => ({ key: to, value: JSON.stringify(reply) }));
      for (const chunk of chunks(replyMessages)) await txn.send({ topic: repliesTopic, acks: -1, messages: chunk });
      for (const chunk of chunks(out.deadLetters)) await txn.send({ topic: deadLettersTopic, acks: -1, messages: chunk });
      await txn.sendOffsets({
        consumerGroupId: groupId,
        topics: [{ topic: topics.commands, partitions: [{ partition, offset: (BigInt(lastOffset) + 1n).toString() }] }],
      });
      await txn.commit();
    } catch (err) {
      await txn.abort().catch(() => undefined);
      // The outcome may be unknown (e.g. the commit reached the broker): re-read the log before deciding again.
      verified.delete(partition);
      await dropProducer(partition, producerRef);
      logger.warn({ partition, err: (err as Error).message }, 'command batch transaction failed; the batch will be retried');
      throw err;
    }
    inFlight.delete(partition);
    for (const [id, slot] of work) slots.set(id, slot);
  }

  return {
    async start(): Promise<void> {
      admin = kafka.admin();
      await admin.connect();

      tail = createConsumer(kafka, `${groupId}.state.${instanceId}`);
      tail.on(tail.events.END_BATCH_PROCESS, ({ payload }) => {
        const next = BigInt(payload.lastOffset) + 1n;
        if (next > (tailPosition.get(payload.partition) ?? 0n)) tailPosition.set(payload.partition, next);
      });
      await runConsumer(tail, {
        topics: [topics.events],
        fromBeginning: true,
        logger,
        what: `${groupId}.state`,
        run: {
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const message of batch.messages) {
              const position = { topic: batch.topic, partition: batch.partition, offset: message.offset };
              try {
                const record = await eventLog.decodeMessage(batch.topic, batch.partition, message);
                applyFromLog(record.event as unknown as E, record.headers, position);
              } catch (err) {
                // The registry is unreachable: read the batch again. Anything else is a record that no writer of this
                // platform made (written straight into the topic): it is no event of any aggregate, and skipped.
                if (isTransient(err)) throw err;
                logger.error({ ...position, err: (err as Error).message }, 'skipping a record of the event log that is no event');
              }
            }
          },
        },
      });

      main = createConsumer(kafka, groupId);
      // A new generation of the group: every partition this instance owns now starts with a new transactional
      // producer (InitProducerId fences whatever an earlier owner — this instance included — left in flight) and
      // a catch-up of its event partition, before any command is decided.
      main.on(main.events.GROUP_JOIN, () => {
        verified.clear();
        inFlight.clear();
        for (const [partition, p] of [...producers]) void dropProducer(partition, p);
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
      await tail?.disconnect();
      await Promise.all([...producers.keys()].map((p) => dropProducer(p)));
      await admin?.disconnect();
    },
    /** The current state of an aggregate as this processor holds it (for tests and diagnostics). */
    peek: (aggregateId: string) => slots.get(aggregateId),
  };
}

export type CommandProcessor = ReturnType<typeof createCommandProcessor>;
