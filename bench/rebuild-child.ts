import type { Config } from '../lib/config';
import { loadConfig } from '../lib/config';
import { createDb, migrate } from '../lib/db';
import { vaultFor } from '../lib/pii';
import { createEventLog } from '../lib/event-log';
import { createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { lowerProcessPriority } from '../lib/priority';
import { createRegistry } from '../lib/registry';
import { PROJECTIONS } from '../platform/read-side';
import { rebuildProjection } from '../projections/rebuild';

/**
 * One rebuild of every read model, in a process of its own so its peak RSS is its own: `rebuildProjection`
 * (projections/rebuild.ts, what `npm run rebuild` runs) for the three projections at once, each replaying its
 * topics from offset 0 into a shadow schema and swapping it into the bench's "live" schema (created empty and
 * migrated here). Reports progress to the parent (IPC) every 250 ms; 'stop' aborts (the shadows are dropped).
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
  lowerProcessPriority(); // as `npm run rebuild` does by default
  const base = loadConfig();
  const cfg: Config = { ...base, topics: { ...base.topics, namespace }, database: { ...base.database, schema } };
  const logger = createLogger('error', 'bench-rebuild');
  const t0 = Date.now();
  // The "live" read model the rebuild swaps into: an empty, migrated schema of the bench's own.
  const db = createDb(cfg.database.url, { schema, poolMax: 1 });
  await migrate(db, schema);
  await db.destroy();
  const kafka = createKafka(cfg, logger, 'projections', `bench-rebuild-${suffix}`);
  const eventLog = createEventLog(createRegistry(cfg, 'reader'), undefined, { vault: vaultFor(cfg) });
  const abort = new AbortController();
  const state: RebuildProgress['projections'] = {};
  let firstAt: number | undefined;
  const report = (kind: RebuildProgress['kind']) => {
    const msg: RebuildProgress = {
      kind,
      t: Date.now() - t0,
      rssMb: process.memoryUsage().rss / 2 ** 20,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      projections: state,
      firstAtMs: firstAt,
    };
    process.send?.(msg);
  };
  const stop = () => {
    abort.abort();
    setTimeout(() => process.exit(0), 15_000).unref();
  };
  process.on('message', (m) => m === 'stop' && stop());
  process.on('disconnect', stop);
  const timer = setInterval(() => report('progress'), 250);
  const runs = Object.entries(PROJECTIONS).map(async ([name, projection]) => {
    state[name] = { applied: 0, total: 0 };
    await rebuildProjection({
      cfg,
      kafka,
      eventLog,
      logger,
      projection,
      signal: abort.signal,
      onProgress: (p) => {
        if (firstAt === undefined && p.applied > 0) firstAt = Date.now() - t0;
        state[name] = { ...state[name]!, applied: p.applied, total: p.total };
      },
    });
    state[name] = { ...state[name]!, doneAtMs: Date.now() - t0 };
  });
  const outcome = await Promise.allSettled(runs);
  clearInterval(timer);
  if (abort.signal.aborted) process.exit(0);
  const failed = outcome.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
  report('done');
  await new Promise<void>((r) => (process.send ? process.send('bye', () => r()) : r()));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
