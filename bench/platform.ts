import type { Admin } from 'kafkajs';
import { bootstrapNamespace, dropNamespace } from '../lib/bootstrap';
import type { Config } from '../lib/config';
import { createDb } from '../lib/db';
import type { Logger } from '../lib/logger';
import type { Registry } from '../lib/registry';
import { withRetry } from '../lib/retry';
import type { EventSchema } from '../lib/schemas';
import { topicsFor } from '../lib/topics';
import { sleep } from '../lib/wait';
import { queryRouters, startProjections } from '../projections/platform';
import { startCommandSide } from '../services/platform';

/** Topic creation on a busy broker sometimes answers UNKNOWN_TOPIC_OR_PARTITION while it settles (retriable). */
export const retrying = <T>(fn: () => Promise<T>) => withRetry(fn, { retries: 6, initialMs: 500 });

/** Deletes topics and waits until the broker no longer lists them. */
export async function deleteTopics(admin: Admin, names: string[]) {
  const existing = new Set(await admin.listTopics());
  const mine = names.filter((n) => existing.has(n));
  if (mine.length === 0) return;
  await admin.deleteTopics({ topics: mine });
  for (let i = 0; i < 100; i++) {
    const now = new Set(await admin.listTopics());
    if (!mine.some((n) => now.has(n))) return;
    await sleep(200);
  }
}

/**
 * The platform in this process as `npm start` runs it — command side, projection workers and the query API on one
 * HTTP server — on the topic namespace and PostgreSQL schema of `cfg`, both fresh (the schema is dropped first,
 * the topics created); `stop` stops it and deletes both. What the command and visibility loads run against
 * (bench/run.ts, bench/visibility.ts).
 */
export async function startBenchPlatform(
  cfg: Config,
  deps: { admin: Admin; registry: Registry; schemas: readonly EventSchema[] },
  logger: Logger,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const topics = topicsFor(cfg.topics.namespace);
  const schema = cfg.database.schema!;
  const db = createDb(cfg.database.url, { poolMax: 1 });
  const dropSchema = () => db.raw('drop schema if exists ?? cascade', [schema]);
  await dropSchema();
  await retrying(() => bootstrapNamespace(deps, topics, cfg.topics));
  const read = await startProjections(cfg, { logger, instanceId: 'bench' });
  const side = await startCommandSide(cfg, { logger, port: 0, routers: queryRouters(read, cfg) });
  return {
    url: side.url,
    async stop() {
      await side.stop();
      await read.stop();
      await dropNamespace(deps, topics).catch(() => undefined);
      await dropSchema();
      await db.destroy();
    },
  };
}
