import type { Admin, Kafka } from 'kafkajs';
import { bootstrapNamespace, dropNamespace } from '../lib/bootstrap';
import type { Config } from '../lib/config';
import { createDb, type Db } from '../lib/db';
import type { Logger } from '../lib/logger';
import type { Registry } from '../lib/registry';
import { withRetry } from '../lib/retry';
import type { EventSchema } from '../lib/schemas';
import { vaultFor } from '../lib/pii';
import { createEventLog } from '../lib/event-log';
import { createProducer } from '../lib/kafka';
import { topicsFor, type Topics } from '../lib/topics';
import { sleep } from '../lib/wait';
import { queryRouters, startProjections } from '../platform/read-side';
import { startCommandSide } from '../platform/commands';
import { existingSeed, seed, seededTopics } from './seed';

/** Topic creation on a busy broker sometimes answers UNKNOWN_TOPIC_OR_PARTITION while it settles (retriable). */
export const retrying = <T>(fn: () => Promise<T>) => withRetry(fn, { retries: 6, initialMs: 500 });

/** Drops a PostgreSQL schema of the bench and everything in it, if it is there. */
export async function dropSchema(db: Db, schema: string): Promise<void> {
  await db.raw('drop schema if exists ?? cascade', [schema]);
}

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
 * The seed of `events` events in a namespace: reused while its topics hold what an earlier run wrote
 * (bench/seed.ts), otherwise its topics are made again and seeded. Either way the namespace is bootstrapped.
 */
export async function seedOrReuse(
  deps: { cfg: Config; kafka: Kafka; admin: Admin; registry: Registry; schemas: readonly EventSchema[]; stackDir: string },
  seeded: Topics,
  events: number,
) {
  const { cfg, admin, registry, schemas } = deps;
  let marker = await existingSeed(admin, seeded, deps.stackDir, events);
  const reused = marker !== undefined;
  if (!marker) await deleteTopics(admin, seededTopics(seeded));
  await retrying(() => bootstrapNamespace({ admin, registry, schemas }, seeded, cfg.topics));
  if (!marker) {
    const producer = createProducer(deps.kafka);
    await producer.connect();
    try {
      marker = await seed(
        { admin, producer, eventLog: createEventLog(registry, undefined, { vault: vaultFor(cfg) }), stackDir: deps.stackDir },
        seeded,
        events,
        (n) => process.stdout.write(`\r  ${n.toLocaleString()} events`),
      );
      process.stdout.write('\n');
    } finally {
      await producer.disconnect();
    }
  }
  return { marker, reused };
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
  await dropSchema(db, schema);
  await retrying(() => bootstrapNamespace(deps, topics, cfg.topics));
  const read = await startProjections(cfg, { logger, instanceId: 'bench' });
  const side = await startCommandSide(cfg, { logger, port: 0, routers: queryRouters(read, cfg) });
  return {
    url: side.url,
    async stop() {
      await side.stop();
      await read.stop();
      await dropNamespace(deps, topics).catch(() => undefined);
      await dropSchema(db, schema);
      await db.destroy();
    },
  };
}
