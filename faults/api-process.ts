import { loadConfig } from '../lib/config';
import { createDb } from '../lib/db';
import { createLogger } from '../lib/logger';
import { queryRouters } from '../projections/platform';
import { startCommandSide } from '../services/platform';
import { topicsFor } from '../lib/topics';

/**
 * One API process as the fault suite runs it: the command side (processors, bus, command API) and the query API
 * over the read models, without projection workers (they run in a process of their own). Configured by the
 * environment like every process (TOPIC_NAMESPACE, DATABASE_SCHEMA, HTTP_PORT, COMMAND_TIMEOUT_MS…); the argument
 * names the instance. Prints `listening <url>` on stdout once it serves.
 */
async function main(): Promise<void> {
  const cfg = loadConfig();
  const logger = createLogger(cfg.logLevel, 'api');
  const db = createDb(cfg.database.queryUrl, { schema: cfg.database.schema, poolMax: 4 });
  const side = await startCommandSide(cfg, {
    logger,
    instanceId: process.argv[2],
    routers: queryRouters({ queryDb: db, topics: topicsFor(cfg.topics.namespace) }, cfg),
  });
  process.stdout.write(`listening ${side.url}\n`);
  const stop = async () => {
    await side.stop();
    await db.destroy();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
