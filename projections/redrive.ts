import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import type { Knex } from 'knex';
import { toolsGroup } from '../lib/acls';
import type { Config } from '../lib/config';
import { createDb, pgRoleName, projectionRole, type Db } from '../lib/db';
import type { AnyEvent, EventLog } from '../lib/event-log';
import { headerValue } from '../lib/kafka';
import type { Logger } from '../lib/logger';
import { readPartitions } from '../lib/partition-reader';
import { recordChanges } from '../lib/change-feed';
import { applyBatch, nothingChanged, type Changed, type Projection } from '../lib/projection';
import { CHECKPOINTS, grantProjection, REDRIVES, type CheckpointRow } from '../lib/projection-worker';
import { isRetriable, withRetry } from '../lib/retry';
import { endOffsets } from '../lib/topic-reader';
import type { Topics } from '../lib/topics';

export type RedriveOutcome =
  /** Re-applied now; it changed rows. */
  | 'applied'
  /** Re-applied now, but it changed no row: a later event of its aggregate superseded it (rebuild the model). */
  | 'unchanged'
  /** Still failing (or undecodable): recorded with this error, tried again next time. */
  | 'failed'
  /** A re-drive before this one applied this event. */
  | 'already-applied'
  /** The projection's checkpoint is not past the event: its worker will apply it. */
  | 'not-reached'
  /** Dry run: it would be re-applied. */
  | 'would-redrive';

export interface RedriveItem {
  /** Where the dead letter is in the dead-letter topic. */
  readonly deadLetter: { readonly partition: number; readonly offset: string };
  /** Where the event is in its own topic (the dead letter's headers). */
  readonly source?: { readonly topic: string; readonly partition: number; readonly offset: string };
  readonly eventType?: string;
  readonly aggregateId?: string;
  readonly outcome: RedriveOutcome;
  /** Why it failed now (`failed`). */
  readonly error?: string;
  /** Why the worker dead-lettered it. */
  readonly deadLetterError?: string;
}

export interface RedriveReport {
  readonly projection: string;
  readonly dryRun: boolean;
  /** In the order of the dead-letter topic: partition, then offset (an aggregate's events keep their order). */
  readonly items: readonly RedriveItem[];
  readonly counts: Readonly<Record<RedriveOutcome, number>>;
}

export interface RedriveDeps {
  /** A client whose principal may read the dead-letter topic and join `group` (lib/acls.ts: `tools`). */
  readonly kafka: Kafka;
  /** A connected admin client (the dead-letter topic's end offsets). */
  readonly admin: Admin;
  /** Writes the projection's tables, its checkpoint rows and projection_redrives: see `redriveDb`. */
  readonly db: Db;
  readonly eventLog: EventLog;
  readonly topics: Topics;
  readonly logger: Logger;
  /** The throw-away consumer group the dead letters are read with (default: a tools group, lib/acls.ts toolsGroup). */
  readonly group?: string;
}

interface RedriveRow {
  projection: string;
  dead_letter_partition: number;
  dead_letter_offset: number;
  source_topic: string | null;
  source_partition: number | null;
  source_offset: number | null;
  outcome: 'applied' | 'failed';
}

interface Letter {
  readonly partition: number;
  readonly message: KafkaMessage;
  readonly source?: NonNullable<RedriveItem['source']>;
  readonly deadLetterError?: string;
  readonly decoded: { event: AnyEvent } | { error: Error };
}

const header = (m: KafkaMessage, name: string): string | undefined => headerValue(m.headers, name);

function sourceOf(m: KafkaMessage): Letter['source'] {
  const [topic, partition, offset] = ['dlq-source-topic', 'dlq-source-partition', 'dlq-source-offset'].map((h) => header(m, h));
  if (!topic || !partition || !/^\d+$/.test(partition) || !offset || !/^\d+$/.test(offset)) return undefined;
  return { topic, partition: Number(partition), offset };
}

/**
 * The pool a re-drive of `projection` writes through, as the projection's workers do (platform/read-side.ts): its
 * own database role on the embedded server, granted its tables by `owner` first; else `owner` itself. The caller
 * destroys a pool it got that is not `owner`.
 */
export async function redriveDb(cfg: Config, owner: Db, projection: Projection): Promise<Db> {
  const role = projectionRole(projection.name);
  if (!cfg.database.embedded || !role) return owner;
  await grantProjection(owner, cfg.database.schema ?? 'public', projection, pgRoleName(role));
  return createDb(cfg.database.projectionUrls[role], { schema: cfg.database.schema, poolMax: 2 });
}

/**
 * Re-drives a projection's dead letters once its bug is fixed: reads the dead-letter topic (from the start, or from
 * an offset of each of its partitions), keeps the dead letters of that projection, and applies each event with the
 * projection's handlers as they are now — exactly once. Per dead letter, one PostgreSQL transaction locks the
 * checkpoint row of the event's partition (as the worker does for a batch: the two never interleave), applies the
 * event in a savepoint, records the outcome in `projection_redrives` and, when it applied, counts it on the
 * checkpoint row (one more applied event, one dead letter less).
 *
 * - `applied` is final: running again skips it, and any other dead letter of the same event (a batch whose commit
 *   failed after it dead-lettered is dead-lettered again).
 * - An event that still fails stays dead: `failed`, with the new error; the next re-drive tries it again. So is a
 *   dead letter that cannot be decoded, with the decode error.
 * - A transient failure (lib/retry.ts isRetriable: the database or the registry away) is thrown, not recorded (the
 *   database's after a few retries): run it again.
 * - An event the projection's checkpoint has not passed is left to its worker (`not-reached`: checkpoints reset).
 *
 * What it cannot do: put an event back in its place in the aggregate's history. Handlers guard rows by version, so an
 * event that a later event of the same aggregate already superseded changes nothing when it comes back (`unchanged`:
 * recorded as applied, no row written), and the later events stay applied as they were, without it. Then the read
 * model is rebuilt from the topics with the fixed code (`npm run rebuild -- <projection>`), which applies every event
 * in order.
 *
 * With `dryRun` it decodes the dead letters and reports what a re-drive would do (`would-redrive`, `failed` for an
 * undecodable one, `already-applied`, `not-reached`), writing nothing. It makes no connection of its own but the
 * consumer that reads the dead-letter topic: a long-running process passes the clients it has.
 */
export async function redrive(
  deps: RedriveDeps,
  opts: { projection: Projection; fromOffset?: number; dryRun?: boolean },
): Promise<RedriveReport> {
  const { projection } = opts;
  const logger = deps.logger.child({ component: 'redrive', projection: projection.name });
  const letters = await readDeadLetters(deps, projection.name, opts.fromOffset ?? 0);
  logger.info({ deadLetters: letters.length, dryRun: Boolean(opts.dryRun) }, 'dead letters read');
  const items: RedriveItem[] = [];
  if (opts.dryRun) {
    const earlier = (await deps.db.schema.hasTable(REDRIVES))
      ? ((await deps.db(REDRIVES).where({ projection: projection.name, outcome: 'applied' })) as RedriveRow[])
      : [];
    const checkpoints = (await deps.db(CHECKPOINTS).where({ projection: projection.name })) as CheckpointRow[];
    for (const letter of letters) items.push(preview(letter, earlier, checkpoints));
  } else {
    for (const letter of letters) {
      const item = await withRetry(() => deps.db.transaction((trx) => redriveOne(trx, projection, letter)), {
        retries: 3,
        onRetry: (err, attempt, delayMs) =>
          logger.warn({ attempt, delayMs, err: (err as Error).message }, 'transient failure; retrying the dead letter'),
      });
      logger.info({ ...item.deadLetter, outcome: item.outcome, error: item.error }, 'dead letter re-driven');
      items.push(item);
    }
  }
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, items.filter((i) => i.outcome === o).length])) as Record<
    RedriveOutcome,
    number
  >;
  return { projection: projection.name, dryRun: Boolean(opts.dryRun), items, counts };
}

const OUTCOMES: readonly RedriveOutcome[] = ['applied', 'unchanged', 'failed', 'already-applied', 'not-reached', 'would-redrive'];

/** The projection's dead letters from `fromOffset` of each partition up to the end they have now, decoded. */
async function readDeadLetters(deps: RedriveDeps, projection: string, fromOffset: number): Promise<Letter[]> {
  const topic = deps.topics.deadLetters;
  const ends = await endOffsets(deps.admin, [topic]);
  const ranges = new Map([...ends.values()].map((p) => [p.partition, { from: BigInt(fromOffset), to: BigInt(p.end) }]));
  const group = deps.group ?? toolsGroup(deps.topics.namespace, 'redrive');
  const raw: Array<{ partition: number; message: KafkaMessage }> = [];
  await readPartitions(deps.kafka, {
    group,
    topic,
    ranges,
    logger: deps.logger,
    eachBatch: (partition, messages) => {
      for (const message of messages) if (header(message, 'dlq-projection') === projection) raw.push({ partition, message });
    },
  });
  await deps.admin.deleteGroups([group]).catch(() => undefined);
  raw.sort((a, b) => a.partition - b.partition || Number(BigInt(a.message.offset) - BigInt(b.message.offset)));
  return Promise.all(
    raw.map(async ({ partition, message }): Promise<Letter> => {
      let decoded: Letter['decoded'];
      try {
        decoded = { event: (await deps.eventLog.decodeMessage(topic, partition, message)).event };
      } catch (err) {
        // The registry away is not the record's fault: the re-drive stops (run it again), it records nothing.
        if (isRetriable(err)) throw err;
        decoded = { error: err as Error };
      }
      return { partition, message, source: sourceOf(message), deadLetterError: header(message, 'dlq-error'), decoded };
    }),
  );
}

const itemOf = (l: Letter, outcome: RedriveOutcome, error?: string): RedriveItem => ({
  deadLetter: { partition: l.partition, offset: l.message.offset },
  source: l.source,
  eventType: 'event' in l.decoded ? l.decoded.event.type : undefined,
  // An undecodable dead letter's key: the aggregate id, on an event topic.
  aggregateId: 'event' in l.decoded ? l.decoded.event.aggregateId : (l.message.key?.toString() ?? undefined),
  outcome,
  error,
  deadLetterError: l.deadLetterError,
});

const isSource = (r: RedriveRow, s: Letter['source']) =>
  s !== undefined && r.source_topic === s.topic && r.source_partition === s.partition && String(r.source_offset) === s.offset;
const isLetter = (r: RedriveRow, l: Letter) => r.dead_letter_partition === l.partition && String(r.dead_letter_offset) === l.message.offset;

/** What `redriveOne` would do, from what the database holds now. */
function preview(l: Letter, applied: readonly RedriveRow[], checkpoints: readonly CheckpointRow[]): RedriveItem {
  if (applied.some((r) => isLetter(r, l) || isSource(r, l.source))) return itemOf(l, 'already-applied');
  if ('error' in l.decoded) return itemOf(l, 'failed', l.decoded.error.message);
  if (!l.source) return itemOf(l, 'failed', NO_SOURCE);
  const cp = checkpoints.find((c) => c.topic === l.source!.topic && c.partition === l.source!.partition);
  if (!cp || cp.next_offset <= Number(l.source.offset)) return itemOf(l, 'not-reached');
  return itemOf(l, 'would-redrive');
}

const NO_SOURCE = 'the dead letter has no dlq-source-topic/partition/offset headers';

/** One dead letter, in the transaction `trx`: checks, applies in a savepoint, records; returns what it came to. */
async function redriveOne(trx: Knex.Transaction, projection: Projection, l: Letter): Promise<RedriveItem> {
  const name = projection.name;
  const { source } = l;
  // Lock the checkpoint row first, as the worker does: a batch of that partition, or another re-drive of this event,
  // waits for this transaction, and what is read next is what they committed.
  const cp = source
    ? ((await trx(CHECKPOINTS).where({ projection: name, topic: source.topic, partition: source.partition }).forUpdate().first()) as
        CheckpointRow | undefined)
    : undefined;
  const earlier = (await trx(REDRIVES)
    .where({ projection: name, outcome: 'applied' })
    .andWhere((q) => {
      q.where({ dead_letter_partition: l.partition, dead_letter_offset: l.message.offset });
      if (source) q.orWhere({ source_topic: source.topic, source_partition: source.partition, source_offset: source.offset });
    })
    .first()) as RedriveRow | undefined;
  if (earlier) return itemOf(l, 'already-applied');

  let error: string | undefined;
  let changed: Changed = nothingChanged();
  if ('error' in l.decoded) error = l.decoded.error.message;
  else if (!source) error = NO_SOURCE;
  else if (!cp || cp.next_offset <= Number(source.offset)) return itemOf(l, 'not-reached');
  else {
    const event = l.decoded.event;
    try {
      changed = await trx.transaction((sp) => applyBatch(sp, projection, [event]));
    } catch (err) {
      if (isRetriable(err)) throw err;
      error = (err as Error).message;
    }
  }

  const now = new Date();
  const outcome = error === undefined ? 'applied' : 'failed';
  const item = itemOf(l, outcome, error);
  await trx(REDRIVES)
    .insert({
      projection: name,
      dead_letter_partition: l.partition,
      dead_letter_offset: l.message.offset,
      source_topic: source?.topic ?? null,
      source_partition: source?.partition ?? null,
      source_offset: source?.offset ?? null,
      event_type: item.eventType ?? null,
      aggregate_id: item.aggregateId ?? null,
      outcome,
      error: error?.slice(0, 1000) ?? null,
      redriven_at: now,
    })
    .onConflict(['projection', 'dead_letter_partition', 'dead_letter_offset'])
    .merge({
      outcome,
      error: error?.slice(0, 1000) ?? null,
      attempts: trx.raw('??.attempts + 1', [REDRIVES]),
      redriven_at: now,
    });
  if (outcome === 'failed') return item;
  await trx(CHECKPOINTS)
    .where({ projection: name, topic: source!.topic, partition: source!.partition })
    .update({
      applied_events: trx.raw('applied_events + 1'),
      dead_letters: trx.raw('greatest(dead_letters - 1, 0)'),
      updated_at: now,
    });
  // Last, as the worker does: the changes of pushed tables reach the clients of GET /stream like any others.
  await recordChanges(trx, projection, changed);
  return [...changed.rows.values()].some((keys) => keys.size > 0) ? item : { ...item, outcome: 'unchanged' };
}
