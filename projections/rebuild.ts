import { randomBytes } from 'node:crypto';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type { Knex } from 'knex';
import type { Config } from '../lib/config';
import { createDb, migrate, pgRoleName, projectionRole, type Db } from '../lib/db';
import { backgroundSessions } from '../lib/priority';
import { decodeBatch, type AnyEvent, type DecodedMessage, type EventLog } from '../lib/event-log';
import { createConsumer } from '../lib/kafka';
import type { Logger } from '../lib/logger';
import { applyBatch, applyOneByOne, type Projection, type Row } from '../lib/projection';
import { CHECKPOINTS, createProjectionWorker, grantProjection, type CheckpointRow } from '../lib/projection-worker';
import { isRetriable, withRetry } from '../lib/retry';
import { topicsFor } from '../lib/topics';
import { endOffsets, partitionKey } from '../lib/topic-reader';
import { sleep } from '../lib/wait';

/**
 * Rebuilds a read model from its topics while the live one keeps serving:
 *
 * 1. A shadow: a PostgreSQL schema of its own (`rebuild_<projection>_<stamp>`), migrated like any other, filled
 *    by the ordinary projection worker from offset 0 under a fresh consumer group (its checkpoints in the shadow's
 *    own `projection_checkpoints`). It only writes there: no command, no event, nothing a policy or saga reads.
 * 2. Caught up: every partition of the projection's topics reached the end offset it had when the rebuild began.
 *    The shadow worker stops; a tail consumer keeps reading the partitions from where the shadow stopped.
 * 3. Handover, in one PostgreSQL transaction: the live checkpoint rows of the projection are locked FOR UPDATE
 *    (every live batch locks its row first, so the live workers pause); partitions where the live model is ahead
 *    are applied to the shadow from the tail; then the live tables move to `retired_<projection>_<stamp>`, the
 *    shadow's take their place (indexes, constraints and owned sequences move with them) and the live
 *    checkpoints become the shadow's. A live batch waiting on its row re-reads the new checkpoint and skips what
 *    the shadow already applied; queries waiting on a table re-resolve its name and read the new one.
 * 4. The retired tables are dropped (unless `keep`), and the shadow schema with its leftovers.
 *
 * `verify` does 1–3 but compares instead of swapping: both models are brought to the same positions inside the
 * transaction (the one behind gets the missing events), compared row by row, and the transaction rolled back.
 */
export interface RebuildProgress {
  /** Offsets replayed so far, over all partitions (transaction markers count as offsets too). */
  done: number;
  /** End offsets when the rebuild began. */
  total: number;
  /** Events applied to the shadow so far. */
  applied: number;
}

export interface RowDiff {
  table: string;
  key: string;
  live?: Row;
  rebuilt?: Row;
  /** The columns whose values differ (every column when the row is on one side only). */
  columns: string[];
}

export interface RebuildResult {
  projection: string;
  shadowSchema: string;
  /** Where the old tables went (dropped unless `keep`). */
  retiredSchema?: string;
  swapped: boolean;
  /** Events applied by the replay (dead letters not included). */
  appliedEvents: number;
  /** Offsets replayed. */
  offsets: number;
  differences: RowDiff[];
  /** At the handover: the partitions where the other side was ahead, and the events the side behind got from the tail. */
  handover: { partitionsBehind: number; eventsApplied: number };
}

/** How long the handover waits for a lock (a live table a query is reading) before it rolls back and tries again. */
const LOCK_TIMEOUT_MS = 5000;
const LOCK_NOT_AVAILABLE = '55P03';

export async function rebuildProjection(deps: {
  cfg: Config;
  kafka: Kafka;
  eventLog: EventLog;
  logger: Logger;
  projection: Projection;
  verify?: boolean;
  keep?: boolean;
  onProgress?: (p: RebuildProgress) => void;
  /** Stops the replay (the shadow schema is dropped unless `keep`). */
  signal?: AbortSignal;
  pollMs?: number;
  /**
   * The shadow's database sessions at background priority (default; niceness 19 when PostgreSQL is on this
   * machine, lib/priority.ts), so the live workers and the query API keep their CPU. The process's own priority
   * is its owner's choice (the rebuild CLI lowers it). `false` for a machine given to the rebuild alone.
   */
  background?: boolean;
}): Promise<RebuildResult> {
  const { cfg, kafka, eventLog, projection } = deps;
  const name = projection.name;
  const logger = deps.logger.child({ component: 'rebuild', projection: name });
  const live = cfg.database.schema ?? 'public';
  const stamp = `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${randomBytes(2).toString('hex')}`;
  const shadow = `rebuild_${name}_${stamp}`;
  const retired = `retired_${name}_${stamp}`;
  const topics = topicsFor(cfg.topics.namespace);
  const projectionTopics = projection.topics(topics);
  const tables = Object.keys(projection.tables);
  const db = createDb(cfg.database.url, { schema: cfg.database.schema, poolMax: 3 });
  // The shadow is thrown away if anything fails, so its commits need not wait for the disk (see createDb).
  const shadowDb = createDb(cfg.database.url, {
    schema: shadow,
    poolMax: 4,
    asyncCommit: true,
    afterCreate: deps.background === false ? undefined : backgroundSessions(cfg.database.url),
  });
  const admin = kafka.admin();
  let shadowCreated = false;
  let tail: Tail | undefined;
  try {
    await admin.connect();
    const missing = await missingTables(db, live, [...tables, CHECKPOINTS]);
    if (missing.length > 0)
      throw new Error(`no live ${name} tables in schema "${live}" (${missing.join(', ')}): start the platform once first`);

    const ends = await endOffsets(admin, projectionTopics);
    const total = [...ends.values()].reduce((n, p) => n + p.end, 0);

    shadowCreated = true;
    await migrate(shadowDb, shadow);
    logger.info({ shadow, total }, 'replaying into the shadow schema');
    const groupId = `${topics.namespace}.rebuild.${name}.${stamp}`;
    const worker = createProjectionWorker({
      kafka,
      db: shadowDb,
      eventLog,
      projection,
      topics: projectionTopics,
      deadLetterTopic: topics.deadLetters,
      groupId,
      logger,
      // The shadow's rows reach clients as the live model already pushed them: nothing to push while replaying.
      pushChanges: false,
    });
    await worker.start();
    let shadowCps: Map<string, CheckpointRow>;
    try {
      // Caught up: each partition at its end offset (or one short of it: a trailing transaction marker can come
      // in a batch of its own, which the worker does not checkpoint; the handover applies whatever is missing).
      for (;;) {
        shadowCps = await checkpoints(shadowDb, CHECKPOINTS, name);
        const at = (k: string) => shadowCps.get(k)?.next_offset ?? 0;
        deps.onProgress?.({
          done: [...ends].reduce((n, [k, p]) => n + Math.min(at(k), p.end), 0),
          total,
          applied: [...shadowCps.values()].reduce((n, c) => n + c.applied_events, 0),
        });
        if ([...ends].every(([k, p]) => p.end === 0 || at(k) >= p.end - 1)) break;
        if (deps.signal?.aborted) throw new Error('rebuild interrupted');
        await sleep(deps.pollMs ?? 250);
      }
    } finally {
      await worker.stop();
    }
    await admin.deleteGroups([groupId]).catch(() => undefined);
    shadowCps = await checkpoints(shadowDb, CHECKPOINTS, name);

    // Read on from where each side stands, so the handover never waits for a consumer group to form.
    const liveNow = await checkpoints(db, CHECKPOINTS, name);
    const from = new Map(
      [...ends].map(([k]) => [
        k,
        Math.min(shadowCps.get(k)?.next_offset ?? 0, deps.verify ? (liveNow.get(k)?.next_offset ?? 0) : Infinity),
      ]),
    );
    tail = await startTail(kafka, `${groupId}.tail`, projectionTopics, from);

    const { differences, appliedEvents, caughtUp } = await withRetry(
      () =>
        handover({
          db,
          live,
          shadow,
          retired,
          projection,
          tables,
          ends,
          shadowCps,
          tail: tail!,
          eventLog,
          verify: Boolean(deps.verify),
          workerRole: cfg.database.embedded && projectionRole(name) ? pgRoleName(projectionRole(name)!) : undefined,
        }),
      { retries: 20, onRetry: (err, attempt) => logger.warn({ attempt, err: (err as Error).message }, 'handover failed; retrying') },
    );
    await tail.stop();
    tail = undefined;
    await admin.deleteGroups([`${groupId}.tail`]).catch(() => undefined);
    if (!deps.verify && !deps.keep) await db.raw('drop schema if exists ?? cascade', [retired]);
    if (deps.verify && deps.keep) shadowCreated = false;
    return {
      projection: name,
      shadowSchema: shadow,
      retiredSchema: deps.verify ? undefined : retired,
      swapped: !deps.verify,
      appliedEvents,
      offsets: total,
      differences,
      handover: caughtUp,
    };
  } finally {
    await tail?.stop().catch(() => undefined);
    if (shadowCreated && !(deps.keep && deps.verify)) await db.raw('drop schema if exists ?? cascade', [shadow]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await shadowDb.destroy();
    await db.destroy();
  }
}

async function missingTables(db: Db, schema: string, tables: string[]): Promise<string[]> {
  const rows = (await db('information_schema.tables')
    .where({ table_schema: schema })
    .whereIn('table_name', tables)
    .select('table_name')) as Array<{
    table_name: string;
  }>;
  return tables.filter((t) => !rows.some((r) => r.table_name === t));
}

async function checkpoints(db: Db | Knex.Transaction, table: string, projection: string): Promise<Map<string, CheckpointRow>> {
  const rows = (await db(table).where({ projection })) as CheckpointRow[];
  return new Map(rows.map((r) => [partitionKey(r.topic, r.partition), r]));
}

/** The records of the projection's partitions from given offsets on, kept in memory as they arrive. */
interface Tail {
  /** The raw records of a partition in [from, to), once the tail has read that far. */
  range(topic: string, partition: number, from: number, to: number, timeoutMs?: number): Promise<KafkaMessage[]>;
  stop(): Promise<void>;
}

async function startTail(kafka: Kafka, groupId: string, topics: string[], from: Map<string, number>): Promise<Tail> {
  const consumer: Consumer = createConsumer(kafka, groupId);
  const buffered = new Map<string, Map<string, KafkaMessage>>();
  const reached = new Map<string, number>();
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    for (const [topic, partitions] of Object.entries(payload.memberAssignment))
      for (const partition of partitions)
        consumer.seek({ topic, partition, offset: String(from.get(partitionKey(topic, partition)) ?? 0) });
  });
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const k = partitionKey(payload.topic, payload.partition);
    reached.set(k, Math.max(reached.get(k) ?? 0, Number(payload.lastOffset) + 1));
  });
  await consumer.connect();
  for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      const k = partitionKey(batch.topic, batch.partition);
      const start = from.get(k) ?? 0;
      const byOffset = buffered.get(k) ?? new Map<string, KafkaMessage>();
      for (const m of batch.messages) if (Number(m.offset) >= start) byOffset.set(m.offset, m);
      buffered.set(k, byOffset);
    },
  });
  return {
    async range(topic, partition, lo, hi, timeoutMs = 30_000) {
      const k = partitionKey(topic, partition);
      if ((from.get(k) ?? 0) > lo) throw new Error(`the tail of ${k} starts at ${from.get(k)}, after ${lo}`);
      const deadline = Date.now() + timeoutMs;
      while ((reached.get(k) ?? from.get(k) ?? 0) < hi) {
        if (Date.now() > deadline) throw new Error(`the tail of ${k} did not reach offset ${hi} within ${timeoutMs} ms`);
        await sleep(10);
      }
      return [...(buffered.get(k)?.values() ?? [])]
        .filter((m) => Number(m.offset) >= lo && Number(m.offset) < hi)
        .sort((a, b) => Number(a.offset) - Number(b.offset));
    },
    stop: () => consumer.disconnect(),
  };
}

/** Applies records to the tables on the transaction's search_path as the worker does; poison is skipped and counted. */
async function applyRecords(
  trx: Knex.Transaction,
  projection: Projection,
  eventLog: EventLog,
  topic: string,
  partition: number,
  messages: KafkaMessage[],
): Promise<{ applied: number; dead: number; lastEventAt?: number }> {
  // The registry or the key store unreachable rejects the batch: the rebuild fails rather than skip a fine record.
  const decoded = await decodeBatch(eventLog, topic, partition, messages);
  const events = decoded.filter((d): d is Extract<DecodedMessage, { event: AnyEvent }> => 'event' in d);
  let dead = decoded.length - events.length;
  let good = events;
  try {
    await trx.transaction((sp) =>
      applyBatch(
        sp,
        projection,
        events.map((e) => e.event),
      ),
    );
  } catch (err) {
    if (isRetriable(err)) throw err;
    const failed = new Set((await applyOneByOne(trx, projection, events)).failed.map((f) => f.item));
    good = events.filter((e) => !failed.has(e));
    dead += failed.size;
  }
  return { applied: good.length, dead, lastEventAt: good.at(-1)?.event.occurredAt };
}

async function handover(h: {
  db: Db;
  live: string;
  shadow: string;
  retired: string;
  projection: Projection;
  tables: string[];
  ends: Map<string, { topic: string; partition: number }>;
  shadowCps: Map<string, CheckpointRow>;
  tail: Tail;
  eventLog: EventLog;
  verify: boolean;
  /** The database role of the projection's workers (lib/db.ts PROJECTION_ROLES), when it has one. */
  workerRole?: string;
}): Promise<{ differences: RowDiff[]; appliedEvents: number; caughtUp: RebuildResult['handover'] }> {
  const { live, shadow, projection } = h;
  const liveCpTable = `${live}.${CHECKPOINTS}`;
  const trx = await h.db.transaction();
  try {
    // A long query on a live table must not stall the query API behind our ALTER TABLE: give up and retry instead.
    await trx.raw(`set local lock_timeout = '${LOCK_TIMEOUT_MS}ms'`);
    // A row for every partition, so that no live batch of this projection can run while we hold them.
    const now = new Date();
    await trx(liveCpTable)
      .insert(
        [...h.ends.values()].map((p) => ({
          projection: projection.name,
          topic: p.topic,
          partition: p.partition,
          next_offset: 0,
          updated_at: now,
        })),
      )
      .onConflict(['projection', 'topic', 'partition'])
      .ignore();
    const locked = (await trx(liveCpTable)
      .where({ projection: projection.name })
      .orderBy(['topic', 'partition'])
      .forUpdate()) as CheckpointRow[];
    const liveCps = new Map(locked.map((r) => [partitionKey(r.topic, r.partition), r]));

    const handed: CheckpointRow[] = [];
    const caughtUp = { partitionsBehind: 0, eventsApplied: 0 };
    for (const [k, p] of h.ends) {
      const l = liveCps.get(k)!;
      const s = h.shadowCps.get(k) ?? {
        ...p,
        projection: projection.name,
        next_offset: 0,
        applied_events: 0,
        dead_letters: 0,
        last_event_at: null,
      };
      const next: CheckpointRow = { ...s };
      /** Applies this partition's events from `from` to `to` to the tables of `schema` (the side behind). */
      const level = async (schema: string, from: number, to: number) => {
        await trx.raw('set local search_path to ??', [schema]);
        const r = await applyRecords(trx, projection, h.eventLog, p.topic, p.partition, await h.tail.range(p.topic, p.partition, from, to));
        caughtUp.partitionsBehind++;
        caughtUp.eventsApplied += r.applied;
        return r;
      };
      if (l.next_offset > s.next_offset) {
        // The live model is ahead: the shadow gets the missing events first.
        const r = await level(shadow, s.next_offset, l.next_offset);
        Object.assign(next, {
          next_offset: l.next_offset,
          applied_events: s.applied_events + r.applied,
          dead_letters: s.dead_letters + r.dead,
          last_event_at: r.lastEventAt ? new Date(r.lastEventAt) : s.last_event_at,
        });
      } else if (h.verify && s.next_offset > l.next_offset) {
        // Verifying, the shadow is ahead: the live model gets them, in this transaction only (rolled back).
        await level(live, l.next_offset, s.next_offset);
      }
      handed.push(next);
    }
    await trx.raw('set local search_path to ??', [live]);

    if (h.verify) {
      const differences = await compareModels(trx, projection, live, shadow);
      await trx.rollback();
      return { differences, appliedEvents: handed.reduce((n, c) => n + c.applied_events, 0), caughtUp };
    }

    await trx.raw('create schema ??', [h.retired]);
    for (const t of h.tables) await trx.raw('alter table ?? set schema ??', [`${live}.${t}`, h.retired]);
    for (const t of h.tables) await trx.raw('alter table ?? set schema ??', [`${shadow}.${t}`, live]);
    // The tables moved in carry no grants: the projection's workers get theirs back in the same transaction.
    if (h.workerRole) await grantProjection(trx, live, projection, h.workerRole);
    for (const c of handed) {
      await trx(liveCpTable).where({ projection: projection.name, topic: c.topic, partition: c.partition }).update({
        next_offset: c.next_offset,
        applied_events: c.applied_events,
        dead_letters: c.dead_letters,
        last_event_at: c.last_event_at,
        updated_at: new Date(),
      });
    }
    await trx.commit();
    return { differences: [], appliedEvents: handed.reduce((n, c) => n + c.applied_events, 0), caughtUp };
  } catch (err) {
    if (!trx.isCompleted()) await trx.rollback().catch(() => undefined);
    if ((err as { code?: string }).code === LOCK_NOT_AVAILABLE) throw Object.assign(err as Error, { retriable: true });
    throw err;
  }
}

const canonical = (v: unknown): string => JSON.stringify(v instanceof Date ? v.toISOString() : v);

/** Every row of every table of the projection in two schemas, by key: rows on one side only, and differing columns. */
export async function compareModels(
  db: Db | Knex.Transaction,
  projection: Projection,
  liveSchema: string,
  rebuiltSchema: string,
): Promise<RowDiff[]> {
  const out: RowDiff[] = [];
  for (const [table, spec] of Object.entries(projection.tables)) {
    const read = async (schema: string) =>
      new Map(((await db(`${schema}.${table}`).orderBy(spec.key)) as Row[]).map((r) => [String(r[spec.key]), r]));
    const a = await read(liveSchema);
    const b = await read(rebuiltSchema);
    for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
      const l = a.get(key);
      const r = b.get(key);
      if (!l || !r) {
        out.push({ table, key, live: l, rebuilt: r, columns: Object.keys(l ?? r ?? {}) });
        continue;
      }
      const columns = [...new Set([...Object.keys(l), ...Object.keys(r)])].filter((c) => canonical(l[c]) !== canonical(r[c]));
      if (columns.length > 0) out.push({ table, key, live: l, rebuilt: r, columns });
    }
  }
  return out;
}
