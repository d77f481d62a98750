import type { Admin, Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { commandMessageSchema, type CommandMessage, type Position, type Reply } from './commands';
import type { Actor } from './auth';
import { conflict, DomainError, forbidden, handle, type Decider } from './decider';
import type { AnyEvent, EventEnvelope, EventLog } from './event-log';
import { createConsumer, createProducer } from './kafka';
import type { Logger } from './logger';
import { waitFor } from './wait';
import type { AggregateTopics } from './topics';

/** What the processor remembers of a command it applied: enough to answer a retry with the first result. */
interface Applied {
  readonly version: number;
  readonly eventIds: readonly string[];
  readonly position: Position | null;
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
  const { kafka, eventLog, decider, topics, repliesTopic, groupId, instanceId } = deps;
  const logger = deps.logger.child({ component: 'command-processor', topic: topics.commands, instanceId });
  const slots = new Map<string, Slot<S>>();
  const tailPosition = new Map<number, bigint>();
  const verified = new Set<number>();
  const producers = new Map<number, Promise<Producer>>();
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
  function applyFromLog(event: E, commandId: string | undefined, position: Position): void {
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

  /** Waits until the tail has read the event partition up to its last stable offset. */
  async function catchUp(partition: number): Promise<void> {
    const offsets = await admin!.fetchTopicOffsets(topics.events);
    const target = BigInt(offsets.find((o) => o.partition === partition)?.offset ?? '0');
    await waitFor(() => ((tailPosition.get(partition) ?? 0n) >= target ? true : undefined), {
      what: `the event tail of ${topics.events}/${partition} to reach offset ${target}`,
      timeoutMs: deps.catchUpTimeoutMs ?? 60_000,
      intervalMs: 5,
    });
  }

  async function processBatch({ batch }: EachBatchPayload): Promise<void> {
    const partition = batch.partition;
    const producerRef = producerFor(partition);
    const producer = await producerRef;
    if (!verified.has(partition)) {
      await catchUp(partition);
      verified.add(partition);
    }

    const work = new Map<string, Slot<S>>();
    const events: Array<{ event: AnyEvent; commandId: string }> = [];
    const replies: Array<{ to: string; reply: Reply; lastEvent: number }> = [];
    for (const message of batch.messages) {
      const parsed = commandMessageSchema.safeParse(JSON.parse(message.value?.toString() || 'null'));
      if (!parsed.success) {
        logger.warn({ offset: message.offset, issues: parsed.error.issues }, 'skipping a malformed command');
        continue;
      }
      const cmd: CommandMessage = parsed.data;
      const stored = work.get(cmd.aggregateId) ?? slots.get(cmd.aggregateId) ?? initial();
      const visible = visibleTo(cmd.actor, stored, cmd.aggregateId);
      const slot = visible ? stored : initial();
      const before = slot.applied.get(cmd.commandId);
      if (before) {
        const reply: Reply = { commandId: cmd.commandId, ok: true, aggregateId: cmd.aggregateId, ...before, duplicate: true };
        replies.push({ to: cmd.replyTo, reply, lastEvent: -1 });
        continue;
      }
      try {
        const { replyTo: _r, payload, ...meta } = cmd;
        const result = handle(decider, slot, { ...payload, ...meta } as unknown as C & CommandMessage);
        // Out of the actor's sight the decider answered as for an unknown id (a 404); a create there would clash
        // with the hidden aggregate (ids are made by the API, so only a key collision gets here).
        if (!visible) throw conflict('the id is already in use');
        if (result.events.length > 0 && cmd.actor?.role === 'user' && owner(result.state, cmd.aggregateId) !== cmd.actor.userId) {
          throw forbidden('a user may only command their own resources');
        }
        const eventIds = result.events.map((e) => e.eventId);
        const lastEvent = events.length;
        events.push(...result.events.map((event) => ({ event: event as unknown as AnyEvent, commandId: cmd.commandId })));
        work.set(cmd.aggregateId, {
          state: result.state,
          version: result.version,
          tenantId: stored.tenantId ?? result.events[0]?.tenantId ?? null,
          applied: remember(slot.applied, cmd.commandId, { version: result.version, eventIds, position: null }),
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
        replies.push({ to: cmd.replyTo, reply, lastEvent: eventIds.length > 0 ? lastEvent + eventIds.length - 1 : -1 });
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        const reply: Reply = {
          commandId: cmd.commandId,
          ok: false,
          aggregateId: cmd.aggregateId,
          status: err.status,
          code: err.code,
          message: err.message,
          details: err.details,
        };
        replies.push({ to: cmd.replyTo, reply, lastEvent: -1 });
      }
    }

    const lastOffset = batch.lastOffset();
    const txn = await producer.transaction();
    try {
      if (events.length > 0) {
        const written = await eventLog.append(
          txn,
          topics.events,
          events.map((e) => e.event),
          (i) => ({ [COMMAND_ID_HEADER]: events[i]!.commandId }),
        );
        if (written.length !== 1 || written[0]!.partition !== partition) {
          throw new Error(`events of ${topics.commands}/${partition} were not all written to partition ${partition}`);
        }
        const base = BigInt(written[0]!.baseOffset!);
        // Each reply (and the processor's memory of the command) carries the position of the command's last event.
        for (const r of replies) {
          if (!r.reply.ok || r.lastEvent < 0) continue;
          const position = { topic: topics.events, partition, offset: (base + BigInt(r.lastEvent)).toString() };
          r.reply = { ...r.reply, position };
          const slot = work.get(r.reply.aggregateId)!;
          const entry = slot.applied.get(r.reply.commandId)!;
          work.set(r.reply.aggregateId, { ...slot, applied: remember(slot.applied, r.reply.commandId, { ...entry, position }) });
        }
      }
      if (replies.length > 0) {
        await txn.send({
          topic: repliesTopic,
          acks: -1,
          messages: replies.map(({ to, reply }) => ({ key: to, value: JSON.stringify(reply) })),
        });
      }
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
      await tail.connect();
      await tail.subscribe({ topic: topics.events, fromBeginning: true });
      await tail.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) {
            const record = await eventLog.decodeMessage(batch.topic, batch.partition, message);
            applyFromLog(record.event as unknown as E, record.headers[COMMAND_ID_HEADER], {
              topic: batch.topic,
              partition: batch.partition,
              offset: message.offset,
            });
          }
        },
      });

      main = createConsumer(kafka, groupId);
      // A new generation of the group: every partition this instance owns now starts with a new transactional
      // producer (InitProducerId fences whatever an earlier owner — this instance included — left in flight) and
      // a catch-up of its event partition, before any command is decided.
      main.on(main.events.GROUP_JOIN, () => {
        verified.clear();
        for (const [partition, p] of [...producers]) void dropProducer(partition, p);
      });
      await main.connect();
      await main.subscribe({ topic: topics.commands, fromBeginning: true });
      await main.run({ autoCommit: false, partitionsConsumedConcurrently: 64, eachBatch: serialized });
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
