import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { toolsGroup } from '../../lib/acls';
import type { Db } from '../../lib/db';
import type { EventLog } from '../../lib/event-log';
import { headerValue, partitionOf } from '../../lib/kafka';
import type { Logger } from '../../lib/logger';
import { readPartitions, type OffsetRange } from '../../lib/partition-reader';
import type { Projection } from '../../lib/projection';
import { CHECKPOINTS } from '../../lib/projection-worker';
import type { Registry } from '../../lib/registry';
import { AGGREGATE_NAMES, type AggregateName, type Topics } from '../../lib/topics';
import { endOffsets } from '../../lib/topic-reader';
import { redrive, type RedriveReport } from '../../projections/redrive';
import { projectionStatus } from '../../projections/routes';

/**
 * What the operations console shows, read from where the platform keeps it: the topics (Kafka, as the `tools`
 * principal: it may read every topic of the namespace, under throw-away `<ns>.tools.` groups), the projections'
 * checkpoints (PostgreSQL), the registry's subjects, and the shadow schemas of rebuilds in progress.
 */
export interface ConsoleDeps {
  /** The `tools` principal's client: reads every topic of the namespace. */
  kafka: Kafka;
  /** The read side's admin (projection status), kept connected for the life of the read side. */
  admin: Admin;
  /** The query pool (SELECT only): checkpoints. */
  queryDb: Db;
  /** The owner's pool: to find the shadow schemas of rebuilds (the query role cannot see them), and to re-drive. */
  db: Db;
  eventLog: EventLog;
  registry: Registry;
  topics: Topics;
  projections: readonly Projection[];
  logger: Logger;
  now: () => number;
}

/** A call's own connection as the tools principal (the console is rare traffic: a connection per call costs ~50 ms). */
async function withToolsAdmin<T>(kafka: Kafka, f: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await f(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Every topic of the namespace (lib/topics.ts), with what kind of topic it is. */
function namespaceTopics(t: Topics): Array<{ name: string; kind: string; aggregate: AggregateName | null }> {
  return [
    ...AGGREGATE_NAMES.flatMap((a) => [
      { name: t[a].events, kind: 'events', aggregate: a },
      { name: t[a].commands, kind: 'commands', aggregate: a },
      { name: t[a].snapshots, kind: 'snapshots', aggregate: a },
    ]),
    { name: t.replies, kind: 'replies', aggregate: null },
    { name: t.deadLetters, kind: 'dead-letters', aggregate: null },
    { name: t.commandDeadLetters, kind: 'command-dead-letters', aggregate: null },
    { name: t.smoke.events, kind: 'smoke', aggregate: null },
  ];
}

/**
 * The topics with their partitions and offsets. `records` is high − low summed: offsets, not records (transaction
 * markers take an offset each; compaction leaves gaps). The size on disk is not given: kafkajs has no
 * DescribeLogDirs, so it is always null.
 */
export async function topicsOverview(deps: Pick<ConsoleDeps, 'kafka' | 'topics'>) {
  return withToolsAdmin(deps.kafka, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const out = [];
    // One topic at a time (lib/topic-reader.ts endOffsets says why).
    for (const t of namespaceTopics(deps.topics)) {
      if (!existing.has(t.name)) continue;
      const offsets = (await admin.fetchTopicOffsets(t.name)).sort((a, b) => a.partition - b.partition);
      const partitions = offsets.map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }));
      out.push({
        ...t,
        partitions,
        offsets: partitions.reduce((n, p) => n + p.high - p.low, 0),
        sizeBytes: null,
      });
    }
    return out;
  });
}

/** Each projection's status (projections/routes.ts) with its lag in seconds: how old its last applied event is, where it is behind. */
export async function projectionsOverview(deps: Pick<ConsoleDeps, 'admin' | 'queryDb' | 'topics' | 'projections' | 'now'>) {
  const now = deps.now();
  const status = await projectionStatus({ db: deps.queryDb, admin: deps.admin, topics: deps.topics, projections: deps.projections });
  const secondsBehind = (lag: number, lastEventAt: Date | null) =>
    lag === 0 ? 0 : lastEventAt ? Math.max(0, Math.round((now - lastEventAt.getTime()) / 1000)) : null;
  return status.map((p) => {
    const partitions = p.partitions.map((x) => ({
      ...x,
      lastEventAt: x.lastEventAt ? x.lastEventAt.toISOString() : null,
      lagSeconds: secondsBehind(x.lag, x.lastEventAt),
    }));
    const seconds = partitions.map((x) => x.lagSeconds);
    const last = p.partitions.map((x) => x.lastEventAt?.getTime() ?? 0).reduce((a, b) => Math.max(a, b), 0);
    return {
      ...p,
      // Unknown (null) when a partition that is behind has applied nothing yet.
      lagSeconds: seconds.includes(null) ? null : Math.max(0, ...(seconds as number[])),
      lastEventAt: last > 0 ? new Date(last).toISOString() : null,
      partitions,
    };
  });
}

const headerText = (m: KafkaMessage, name: string): string | null => headerValue(m.headers, name) ?? null;

/** Reads offset ranges of a topic's partitions under a throw-away tools group, which is deleted after. */
async function readRanges(
  deps: Pick<ConsoleDeps, 'kafka' | 'topics' | 'logger'>,
  topic: string,
  ranges: Map<number, OffsetRange>,
  each: (partition: number, m: KafkaMessage) => Promise<void>,
): Promise<void> {
  const group = toolsGroup(deps.topics.namespace, 'console');
  await readPartitions(deps.kafka, {
    group,
    topic,
    ranges,
    logger: deps.logger,
    stallMs: 15_000,
    eachBatch: async (partition, messages) => {
      for (const m of messages) await each(partition, m);
    },
  });
  if ([...ranges.values()].some((r) => r.to > r.from)) {
    await withToolsAdmin(deps.kafka, (admin) => admin.deleteGroups([group])).catch(() => undefined);
  }
}

const ENVELOPE = new Set(['eventId', 'type', 'aggregateId', 'aggregateVersion', 'occurredAt', 'correlationId', 'causationId', 'tenantId']);

/**
 * An aggregate's events, oldest first: its partition (the producers' murmur2 of the id) read from its first
 * offset to its end, keeping the records keyed by the id, each decoded through the registry. The whole partition
 * is scanned: a cost that grows with the partition, fine for an operator's look-up, not for an API.
 */
export async function aggregateHistory(
  deps: Pick<ConsoleDeps, 'kafka' | 'topics' | 'logger' | 'eventLog'>,
  aggregate: AggregateName,
  aggregateId: string,
  limit: number,
) {
  const topic = deps.topics[aggregate].events;
  const offsets = await withToolsAdmin(deps.kafka, (admin) => admin.fetchTopicOffsets(topic));
  const partition = partitionOf(aggregateId, offsets.length);
  const o = offsets.find((x) => x.partition === partition)!;
  const events: Array<Record<string, unknown>> = [];
  let total = 0;
  await readRanges(deps, topic, new Map([[partition, { from: BigInt(o.low), to: BigInt(o.high) }]]), async (p, m) => {
    if (m.key?.toString() !== aggregateId) return;
    total++;
    const at = {
      partition: p,
      offset: m.offset,
      timestamp: new Date(Number(m.timestamp)).toISOString(),
      commandId: headerText(m, 'command-id'),
    };
    try {
      const r = await deps.eventLog.decodeMessage(topic, p, m);
      const e = r.event;
      events.push({
        ...at,
        type: e.type,
        version: e.aggregateVersion,
        eventId: e.eventId,
        occurredAt: new Date(e.occurredAt).toISOString(),
        schemaId: r.schemaId,
        correlationId: e.correlationId,
        causationId: e.causationId,
        tenantId: e.tenantId,
        payload: Object.fromEntries(Object.entries(e).filter(([k]) => !ENVELOPE.has(k))),
        error: null,
      });
    } catch (err) {
      events.push({
        ...at,
        type: headerText(m, 'event-type'),
        version: null,
        eventId: headerText(m, 'event-id'),
        occurredAt: null,
        schemaId: null,
        correlationId: headerText(m, 'correlation-id'),
        causationId: null,
        tenantId: null,
        payload: null,
        error: `undecodable: ${(err as Error).message}`.slice(0, 500),
      });
    }
  });
  return { aggregate, id: aggregateId, topic, partition, total, events: events.slice(-limit) };
}

/** The newest dead letters of both sides (the last `limit` offsets of each partition), newest first. */
export async function deadLetters(deps: Pick<ConsoleDeps, 'kafka' | 'topics' | 'logger'>, limit: number) {
  const out: Array<Record<string, unknown> & { timestamp: string }> = [];
  const preview = (m: KafkaMessage) => {
    const text = m.value?.toString('utf8') ?? '';
    // Commands are JSON; a projection's dead letter is usually Avro: shown as hex.
    const printable = /^[\x20-\x7e\s]*$/.test(text);
    const shown = printable ? text : (m.value?.toString('hex') ?? '');
    return shown.length > 300 ? `${shown.slice(0, 300)}…` : shown;
  };
  for (const side of ['projection', 'command'] as const) {
    const topic = side === 'projection' ? deps.topics.deadLetters : deps.topics.commandDeadLetters;
    const offsets = await withToolsAdmin(deps.kafka, (admin) => admin.fetchTopicOffsets(topic));
    const ranges = new Map(
      offsets.map((o) => [o.partition, { from: BigInt(Math.max(Number(o.low), Number(o.high) - limit)), to: BigInt(o.high) }]),
    );
    await readRanges(deps, topic, ranges, async (partition, m) => {
      const h = (name: string) => headerText(m, name);
      const source =
        side === 'projection'
          ? { topic: h('dlq-source-topic'), partition: h('dlq-source-partition'), offset: h('dlq-source-offset') }
          : { topic: h('source-topic'), partition: h('source-partition'), offset: h('source-offset') };
      out.push({
        side,
        topic,
        partition,
        offset: m.offset,
        timestamp: new Date(Number(m.timestamp)).toISOString(),
        key: m.key?.toString() ?? null,
        projection: side === 'projection' ? h('dlq-projection') : null,
        error: (side === 'projection' ? h('dlq-error') : h('error')) ?? '',
        errorCode: side === 'command' ? h('error-code') : null,
        type: side === 'projection' ? h('event-type') : h('command-type') || null,
        commandId: side === 'command' ? h('command-id') || null : null,
        source: {
          topic: source.topic,
          partition: source.partition === null ? null : Number(source.partition),
          offset: source.offset,
        },
        value: preview(m),
      });
    });
  }
  return out.sort((a, b) => b.timestamp.localeCompare(a.timestamp)).slice(0, limit);
}

/** The registry's subjects of this namespace's topics, with their versions. */
export async function schemaSubjects(deps: Pick<ConsoleDeps, 'registry' | 'topics'>) {
  const prefix = `${deps.topics.namespace}.`;
  const subjects = (await deps.registry.subjects()).filter((s) => s.startsWith(prefix)).sort();
  return Promise.all(subjects.map(async (subject) => ({ subject, versions: await deps.registry.versions(subject) })));
}

/** A rebuild's shadow schema: `rebuild_<projection>_<yyyymmddhhmmss>_<hex>` (projections/rebuild.ts). */
const SHADOW = /^rebuild_([a-z_]+)_(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})_[0-9a-f]{4}$/;
/** A shadow whose checkpoints moved within this long is replaying; else it is idle (a kept --verify shadow, or stalled). */
const ACTIVE_MS = 30_000;

/**
 * Rebuilds in progress, found from what a rebuild leaves in PostgreSQL (it records nothing else): its shadow
 * schema, whose own `projection_checkpoints` the replay advances, against the projection's end offsets now.
 * The rebuild aims at the end offsets it saw when it began, so `total` here (today's) can exceed it and the ETA
 * (time so far × offsets left ÷ offsets done) is an upper bound. Shadows of other namespaces are left out.
 */
export async function rebuildsInProgress(deps: Pick<ConsoleDeps, 'db' | 'admin' | 'topics' | 'projections' | 'now'>) {
  const schemas = (
    (await deps.db('information_schema.schemata').where('schema_name', 'like', 'rebuild\\_%').select('schema_name')) as Array<{
      schema_name: string;
    }>
  ).map((r) => r.schema_name);
  const now = deps.now();
  const out = [];
  for (const schema of schemas.sort()) {
    const m = SHADOW.exec(schema);
    const projection = m ? deps.projections.find((p) => p.name === m[1]) : undefined;
    if (!m || !projection) continue;
    const rows = (await deps
      .db(`${schema}.${CHECKPOINTS}`)
      .where('topic', 'like', `${deps.topics.namespace.replace(/[\\%_]/g, '\\$&')}.%`)
      .select()
      .catch(() => [])) as Array<{
      topic: string;
      partition: number;
      next_offset: number;
      applied_events: number;
      updated_at: Date | null;
    }>;
    // A shadow with no checkpoint of this namespace yet may be another namespace's: shown only once it has one.
    if (rows.length === 0) continue;
    const ends = await endOffsets(deps.admin, projection.topics(deps.topics));
    const startedAt = Date.UTC(Number(m[2]), Number(m[3]) - 1, Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7]));
    const at = (topic: string, partition: number) => rows.find((r) => r.topic === topic && r.partition === partition)?.next_offset ?? 0;
    const total = [...ends.values()].reduce((n, p) => n + p.end, 0);
    const done = [...ends.values()].reduce((n, p) => n + Math.min(at(p.topic, p.partition), p.end), 0);
    const updated = rows.map((r) => r.updated_at?.getTime() ?? 0).reduce((a, b) => Math.max(a, b), 0);
    const elapsed = Math.max(0, now - startedAt) / 1000;
    out.push({
      projection: projection.name,
      shadowSchema: schema,
      startedAt: new Date(startedAt).toISOString(),
      updatedAt: updated > 0 ? new Date(updated).toISOString() : null,
      state: now - updated <= ACTIVE_MS ? ('replaying' as const) : ('idle' as const),
      done,
      total,
      appliedEvents: rows.reduce((n, r) => n + r.applied_events, 0),
      etaSeconds: done >= total ? 0 : done > 0 ? Math.ceil(((total - done) * elapsed) / done) : null,
    });
  }
  return out;
}

/**
 * Re-drives a projection's dead letters (projections/redrive.ts) as `npm run redrive` does, from the console: the
 * dead letters read as the tools principal, written through the owner's pool this process holds.
 */
export async function redriveDeadLetters(
  deps: ConsoleDeps,
  projection: Projection,
  opts: { fromOffset?: number; dryRun?: boolean },
): Promise<RedriveReport> {
  return withToolsAdmin(deps.kafka, (admin) =>
    redrive(
      { kafka: deps.kafka, admin, db: deps.db, eventLog: deps.eventLog, topics: deps.topics, logger: deps.logger },
      { projection, ...opts },
    ),
  );
}
