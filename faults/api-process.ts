import { loadConfig } from '../lib/config';
import { createDb } from '../lib/db';
import { createLogger } from '../lib/logger';
import { startTracing } from '../lib/tracing';
import { queryRouters } from '../platform/read-side';
import { startCommandSide } from '../platform/commands';
import { topicsFor } from '../lib/topics';
import { sleep } from '../lib/wait';

/**
 * One API process as the fault suite runs it: the command side (processors, bus, command API) and the query API
 * over the read models, without projection workers (they run in a process of their own). Configured by the
 * environment like every process (TOPIC_NAMESPACE, DATABASE_SCHEMA, HTTP_PORT, COMMAND_TIMEOUT_MS…); the argument
 * names the instance. Prints `listening <url>` on stdout once it serves.
 */
async function main(): Promise<void> {
  const cfg = loadConfig();
  const logger = createLogger(cfg.logLevel, 'api');
  const tracing = startTracing(cfg.tracing, 'api');
  const db = createDb(cfg.database.queryUrl, { schema: cfg.database.schema, poolMax: 4 });
  const side = await startCommandSide(cfg, {
    logger,
    instanceId: process.argv[2],
    routers: queryRouters({ queryDb: db, topics: topicsFor(cfg.topics.namespace) }, cfg),
  });
  process.stdout.write(`listening ${side.url}\n`);
  // Once every writer holds partitions and has restored them: what that took and what it read.
  const started = Date.now() - Math.round(process.uptime() * 1000);
  void (async () => {
    for (;;) {
      await side.whenReady().catch(() => undefined);
      const writers = Object.values(side.writers());
      if (writers.every((w) => w.partitions.length > 0)) {
        const restores = writers.flatMap((w) => w.restores);
        const ready = {
          ms: Date.now() - started,
          aggregates: writers.reduce((n, w) => n + w.aggregates, 0),
          partitions: writers.reduce((n, w) => n + w.partitions.length, 0),
          snapshots: restores.reduce((n, r) => n + r.snapshots, 0),
          events: restores.reduce((n, r) => n + r.events, 0),
          folded: restores.reduce((n, r) => n + r.folded.length, 0),
          restoreMs: Math.max(0, ...restores.map((r) => r.ms)),
        };
        process.stdout.write(`ready ${JSON.stringify(ready)}\n`);
        return;
      }
      await sleep(100);
    }
  })();
  const stop = async () => {
    await side.stop();
    await db.destroy();
    await tracing.shutdown();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
