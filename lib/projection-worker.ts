import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Db } from './db';
import type { Knex } from 'knex';
import { decodeBatch, type AnyEvent, type DecodedMessage, type EventLog } from './event-log';
import { createConsumer, createProducer, runConsumer } from './kafka';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import { noteApplied } from './applied-positions';
import { CHANGES, recordChanges } from './change-feed';
import { applyBatch, applyOneByOne, type Changed, type Projection } from './projection';
import { isRetriable, withRetry } from './retry';
import { contextOf, endSpan, SpanKind, startSpan } from './tracing';

export const CHECKPOINTS = 'projection_checkpoints';
/** Where each re-drive of a dead letter is recorded (projections/redrive.ts). */
export const REDRIVES = 'projection_redrives';

/**
 * Lets a projection's own database role (lib/db.ts PROJECTION_ROLES) change that projection's tables and the
 * checkpoint rows, record its changes in the change feed and its re-drives, and nothing else of the schema. Run by their owner
 * after the migrations and inside a rebuild's swap (new tables carry no grants). Two GRANTs on one object at once fail in PostgreSQL ("tuple concurrently
 * updated": a worker restarted during a rebuild's swap crashed on it), so every grant holds one advisory lock.
 */
export async function grantProjection(db: Db | Knex.Transaction, schema: string, projection: Projection, role: string): Promise<void> {
  const grant = async (trx: Knex.Transaction) => {
    await trx.raw('select pg_advisory_xact_lock(?)', [GRANTS_LOCK]);
    await trx.raw('grant usage on schema ?? to ??', [schema, role]);
    for (const table of Object.keys(projection.tables)) {
      await trx.raw('grant select, insert, update, delete on ?? to ??', [`${schema}.${table}`, role]);
    }
    await trx.raw('grant select, insert, update on ?? to ??', [`${schema}.${CHECKPOINTS}`, role]);
    await trx.raw('grant select, insert, update on ?? to ??', [`${schema}.${CHANGES}`, role]);
    await trx.raw('grant select, insert, update on ?? to ??', [`${schema}.${REDRIVES}`, role]);
  };
  if (db.isTransaction) await grant(db as Knex.Transaction);
  else await (db as Db).transaction(grant);
}
/** The advisory lock every grantProjection holds (an arbitrary constant of this platform). */
const GRANTS_LOCK = 726_431_990;

/** A row of `projection_checkpoints`: where a projection is in one topic partition (bigints come back as numbers). */
export interface CheckpointRow {
  projection: string;
  topic: string;
  partition: number;
  next_offset: number;
  applied_events: number;
  dead_letters: number;
  last_event_at: Date | null;
}

/** An event of the batch failed for a non-transient reason: the batch is applied again one event at a time. */
class FailingEvent extends Error {
  constructor(override readonly cause: Error) {
    super(`an event failed to apply: ${cause.message}`);
  }
}

/**
 * Runs a projection against PostgreSQL from its Kafka topics, exactly once: each batch (one topic partition)
 * is applied and the projection's checkpoint for that partition advanced in one database transaction. The
 * worker resumes from its checkpoints — on start and on every partition assignment — never from the consumer
 * group's offsets, so a crash at any point neither re-applies nor skips an event. Events that cannot be decoded,
 * or whose handler fails for a non-transient reason, go to the dead-letter topic and are counted; transient
 * failures (the database restarting) are retried with backoff.
 */
export function createProjectionWorker(deps: {
  kafka: Kafka;
  db: Db;
  eventLog: EventLog;
  projection: Projection;
  topics: string[];
  deadLetterTopic: string;
  groupId: string;
  logger: Logger;
  metrics?: Metrics;
  /** Whether the changes of pushed tables go to the change feed (GET /stream): not for a rebuild's shadow. */
  pushChanges?: boolean;
}) {
  const { kafka, db, eventLog, projection, deadLetterTopic } = deps;
  const logger = deps.logger.child({ component: 'projection', projection: projection.name });
  let consumer: Consumer | undefined;
  let dlq: Producer | undefined;

  async function seekToCheckpoints(assignment: Record<string, number[]>): Promise<void> {
    const rows = (await db<CheckpointRow>(CHECKPOINTS).where({ projection: projection.name })) as CheckpointRow[];
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) {
        const cp = rows.find((r) => r.topic === topic && r.partition === partition);
        consumer!.seek({ topic, partition, offset: cp ? String(cp.next_offset) : '0' });
      }
    }
  }

  async function deadLetter(topic: string, partition: number, message: KafkaMessage, error: Error): Promise<void> {
    logger.error({ topic, partition, offset: message.offset, err: error.message }, 'event dead-lettered');
    await dlq!.send({
      topic: deadLetterTopic,
      acks: -1,
      messages: [
        {
          key: message.key,
          value: message.value,
          headers: {
            ...message.headers,
            'dlq-projection': projection.name,
            'dlq-error': error.message.slice(0, 1000),
            'dlq-source-topic': topic,
            'dlq-source-partition': String(partition),
            'dlq-source-offset': message.offset,
          },
        },
      ],
    });
  }

  async function processBatch({ batch, heartbeat, isStale }: EachBatchPayload): Promise<void> {
    if (isStale() || batch.isEmpty()) return;
    const { topic, partition } = batch;
    // Poison is kept with its error; when the registry or the key store cannot be asked the batch waits for them:
    // dead-lettering a fine record would drop a good event from the read model.
    const decoded = await withRetry(() => decodeBatch(eventLog, topic, partition, batch.messages), {
      maxMs: 5_000,
      onRetry: (err, attempt, delayMs) => {
        logger.warn({ topic, partition, attempt, delayMs, err: (err as Error).message }, 'schema registry unavailable; retrying the batch');
        heartbeat().catch(() => undefined);
      },
    });
    // A span per event, the child of the command's (the event's headers), ending with the transaction that applied it.
    const spans = decoded.map((d) =>
      startSpan(`project ${projection.name}`, {
        parent: contextOf(d.message.headers),
        kind: SpanKind.CONSUMER,
        attributes: { 'cloudphone.event_type': 'event' in d ? d.event.type : '(undecodable)', 'messaging.kafka.offset': d.message.offset },
      }),
    );
    const next = (BigInt(batch.lastOffset()) + 1n).toString();
    /**
     * One transaction: lock the checkpoint row, apply what is past it, advance it. The whole batch is applied at
     * once; only when an event fails for a non-transient reason is the transaction rolled back and the batch
     * applied again event by event, each in a savepoint, to dead-letter exactly the failing ones (savepoints on
     * every batch cost two more round trips each, for a case that should not happen).
     */
    const attempt = (oneByOne: boolean) =>
      db.transaction(async (trx) => {
        const cp = (await trx<CheckpointRow>(CHECKPOINTS).where({ projection: projection.name, topic, partition }).forUpdate().first()) as
          CheckpointRow | undefined;
        const from = BigInt(cp?.next_offset ?? 0);
        const fresh = decoded.filter((d) => BigInt(d.message.offset) >= from);
        if (fresh.length === 0) return { applied: 0, dead: 0, from };
        const poison = fresh.filter((d): d is Extract<DecodedMessage, { error: Error }> => 'error' in d);
        const good = fresh.filter((d): d is Extract<DecodedMessage, { event: AnyEvent }> => 'event' in d);
        const undecodable = poison.length;
        let changed: Changed;
        if (!oneByOne) {
          try {
            changed = await applyBatch(
              trx,
              projection,
              good.map((d) => d.event),
            );
          } catch (err) {
            if (isRetriable(err)) throw err;
            throw new FailingEvent(err as Error);
          }
        } else {
          const one = await applyOneByOne(trx, projection, good);
          for (const { item, error } of one.failed) poison.push({ message: item.message, error });
          changed = one.changed;
        }
        for (const p of poison) await deadLetter(topic, partition, p.message, p.error);
        const lastEvent = [...good].reverse().find((d) => !poison.some((p) => p.message === d.message));
        await trx(CHECKPOINTS)
          .insert({
            projection: projection.name,
            topic,
            partition,
            next_offset: next,
            applied_events: good.length - (poison.length - undecodable),
            dead_letters: poison.length,
            last_event_at: lastEvent ? new Date(lastEvent.event.occurredAt) : null,
            updated_at: new Date(),
          })
          .onConflict(['projection', 'topic', 'partition'])
          .merge({
            next_offset: next,
            applied_events: trx.raw('??.applied_events + excluded.applied_events', [CHECKPOINTS]),
            dead_letters: trx.raw('??.dead_letters + excluded.dead_letters', [CHECKPOINTS]),
            last_event_at: trx.raw('coalesce(excluded.last_event_at, ??.last_event_at)', [CHECKPOINTS]),
            updated_at: trx.raw('excluded.updated_at'),
          });
        // Last: the changes pushed to clients hold their lock to the commit (lib/change-feed.ts).
        if (deps.pushChanges !== false) await recordChanges(trx, projection, changed);
        return {
          applied: good.length - (poison.length - undecodable),
          dead: poison.length,
          lastEventAt: lastEvent?.event.occurredAt,
          from,
        };
      });
    const result = await withRetry(
      async () => {
        try {
          return await attempt(false);
        } catch (err) {
          if (!(err instanceof FailingEvent)) throw err;
          return await attempt(true);
        }
      },
      {
        onRetry: (err, attempt, delayMs) =>
          logger.warn({ topic, partition, attempt, delayMs, err: (err as Error).message }, 'transient failure; retrying the batch'),
      },
    ).catch((err: unknown) => {
      for (const span of spans) endSpan(span, err);
      throw err;
    });
    // Only what this batch applied is recorded: a span left open (an event applied before) is never exported.
    decoded.forEach((d, i) => {
      if (BigInt(d.message.offset) >= result.from) endSpan(spans[i]!);
    });
    noteApplied(db, projection.name, [{ topic, partition, next: BigInt(next) }]);
    const labels = { projection: projection.name, topic, partition: String(partition) };
    const lag = Number(BigInt(batch.highWatermark) - BigInt(next));
    deps.metrics?.applied.inc(labels, result.applied);
    if (result.dead > 0) deps.metrics?.deadLetters.inc(labels, result.dead);
    deps.metrics?.lag.set(labels, Math.max(0, lag));
    deps.metrics?.staleness.set(labels, lag > 0 && result.lastEventAt ? (Date.now() - result.lastEventAt) / 1000 : 0);
    await heartbeat();
  }

  return {
    async start(): Promise<void> {
      dlq = createProducer(kafka);
      await dlq.connect();
      // Fetches of at most 2 MB (256 KB a partition) instead of kafkajs' 10 MB: a batch is decoded whole, and three
      // workers replaying from offset 0 held 10 MB each of decoded events at once — the rebuild's peak RSS went from
      // 439 to 319 MB (100k events, npm run bench), no slower.
      consumer = createConsumer(kafka, deps.groupId, { maxWaitTimeInMs: 200, maxBytes: 2 << 20, maxBytesPerPartition: 256 << 10 });
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        seekToCheckpoints(payload.memberAssignment).catch((err: Error) =>
          logger.error({ err: err.message }, 'could not seek to the checkpoints'),
        );
      });
      await runConsumer(consumer, {
        topics: deps.topics,
        fromBeginning: true,
        logger,
        what: deps.groupId,
        run: { autoCommit: false, partitionsConsumedConcurrently: 4, eachBatch: processBatch },
      });
    },
    async stop(): Promise<void> {
      await consumer?.disconnect();
      await dlq?.disconnect();
    },
  };
}

export type ProjectionWorker = ReturnType<typeof createProjectionWorker>;
