import { loadConfig } from '../lib/config';
import { createDb, migrate } from '../lib/db';
import { createEventLog } from '../lib/event-log';
import { createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { createProjectionWorker, CHECKPOINTS } from '../lib/projection-worker';
import { createRegistry } from '../lib/registry';
import { topicsFor } from '../lib/topics';
import { PROJECTIONS } from '../projections/platform';

/**
 * One rebuild, in a process of its own so its peak RSS is its own: a fresh PostgreSQL schema, migrated, and the
 * real projection worker of every read model replaying its topics from offset 0 until its checkpoints reach the
 * end offsets the topics had at the start. Reports progress to the parent (IPC) every 250 ms.
 *
 * argv: <namespace> <schema> <group suffix>
 */
export interface RebuildProgress {
  kind: 'progress' | 'done';
  t: number;
  rssMb: number;
  maxRssMb: number;
  /** Per projection: events applied so far, its total, and when it reached the end (ms since start). */
  projections: Record<string, { applied: number; total: number; doneAtMs?: number }>;
  /** When the first checkpoint was written (ms since start). */
  firstAtMs?: number;
}

async function main(): Promise<void> {
  const [namespace, schema, suffix] = process.argv.slice(2) as [string, string, string];
  const base = loadConfig();
  const logger = createLogger('error', 'bench-rebuild');
  const t0 = Date.now();
  const db = createDb(base.database.url, { schema, poolMax: 10 });
  await migrate(db, schema);
  const kafka = createKafka(base, logger, `bench-rebuild-${suffix}`);
  const admin = kafka.admin();
  await admin.connect();
  const eventLog = createEventLog(createRegistry(base.registry.url));
  const topics = topicsFor(namespace);
  const ends = new Map<string, number>();
  const totals: Record<string, number> = {};
  for (const [name, p] of Object.entries(PROJECTIONS)) {
    totals[name] = 0;
    for (const t of p.topics(topics)) {
      for (const o of await admin.fetchTopicOffsets(t)) {
        ends.set(`${t}/${o.partition}`, Number(o.high));
        totals[name] += Number(o.high);
      }
    }
  }
  await admin.disconnect();
  const workers = Object.entries(PROJECTIONS).map(([name, projection]) =>
    createProjectionWorker({
      kafka,
      db,
      eventLog,
      projection,
      topics: projection.topics(topics),
      deadLetterTopic: topics.deadLetters,
      groupId: `${namespace}.bench-rebuild.${name}.${suffix}`,
      logger,
    }),
  );
  await Promise.all(workers.map((w) => w.start()));
  const doneAt: Record<string, number> = {};
  let firstAt: number | undefined;
  let stopping = false;

  const report = async (kind: RebuildProgress['kind']): Promise<boolean> => {
    const rows = (await db(CHECKPOINTS)) as Array<{
      projection: string;
      topic: string;
      partition: number;
      next_offset: number;
      applied_events: number;
    }>;
    const projections: RebuildProgress['projections'] = {};
    for (const [name, p] of Object.entries(PROJECTIONS)) {
      const mine = rows.filter((r) => r.projection === name);
      const applied = mine.reduce((n, r) => n + Number(r.applied_events), 0);
      const done = p
        .topics(topics)
        .every((t) =>
          [...ends]
            .filter(([k]) => k.startsWith(`${t}/`))
            .every(([k, end]) => end === 0 || (mine.find((r) => `${r.topic}/${r.partition}` === k)?.next_offset ?? 0) >= end),
        );
      if (done && doneAt[name] === undefined) doneAt[name] = Date.now() - t0;
      projections[name] = { applied, total: totals[name]!, doneAtMs: doneAt[name] };
    }
    if (firstAt === undefined && rows.length > 0) firstAt = Date.now() - t0;
    const msg: RebuildProgress = {
      kind,
      t: Date.now() - t0,
      rssMb: process.memoryUsage().rss / 2 ** 20,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      projections,
      firstAtMs: firstAt,
    };
    process.send?.(msg);
    return Object.keys(PROJECTIONS).every((n) => doneAt[n] !== undefined);
  };

  const stop = async () => {
    stopping = true;
    await Promise.all(workers.map((w) => w.stop()));
    await db.destroy();
    process.exit(0);
  };
  process.on('message', (m) => {
    if (m === 'stop' && !stopping) void stop();
  });
  process.on('disconnect', () => {
    if (!stopping) void stop();
  });

  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    if (stopping) return;
    if (await report('progress')) break;
  }
  await report('done');
  await stop();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
