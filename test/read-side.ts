import fc from 'fast-check';
import { bootstrapNamespace, dropNamespace } from '../lib/bootstrap';
import type { Db } from '../lib/db';
import type { AnyEvent } from '../lib/event-log';
import { createProducer } from '../lib/kafka';
import { memoryStore, type Projection } from '../lib/projection';
import { loadEventSchemas } from '../lib/schemas';
import { topicsFor, type Topics } from '../lib/topics';
import { buildStreams, historyArb } from './histories';
import { readModel, testDatabase, waitForCheckpoints } from './projection-harness';
import { integration, unique } from './support';

/** A namespace with its topics, a database schema, and helpers to feed histories and wait for the projections. */
export async function readSideFixture(prefix: string) {
  const it_ = integration();
  const namespace = unique(`test-${prefix}`);
  const topics: Topics = topicsFor(namespace);
  const deps = { admin: await it_.admin(), registry: it_.registry, schemas: loadEventSchemas() };
  await bootstrapNamespace(deps, topics, { partitions: 3, replicationFactor: 1 });
  const database = testDatabase(prefix);
  await database.setup();
  const cfg = { ...it_.cfg, topics: { ...it_.cfg.topics, namespace }, database: { ...it_.cfg.database, schema: database.schema } };
  const produced: AnyEvent[] = [];
  const producer = createProducer(it_.kafka);
  await producer.connect();
  let batchNo = 0;

  return {
    it: it_,
    cfg,
    topics,
    db: database.db as Db,
    produced,
    /** Appends `count` histories made by the deciders to the namespace's topics (each aggregate in order). */
    async feed(count: number, seed: number): Promise<number> {
      const names = {
        user: topics.user.events,
        device: topics.device.events,
        appInstall: topics.appInstall.events,
        order: topics.order.events,
      };
      let n = 0;
      for (const [i, h] of fc.sample(historyArb, { seed, numRuns: count }).entries()) {
        for (const s of buildStreams(h, names, `b${batchNo}-${i}`)) {
          await it_.eventLog.append(producer, s.topic, s.events);
          produced.push(...s.events);
          n += s.events.length;
        }
      }
      batchNo++;
      return n;
    },
    /** The pure fold of everything fed so far. */
    reference(p: Projection) {
      const store = memoryStore(p);
      const mine = new Set(p.topics(topics));
      for (const e of produced) if (mine.has(topicOf(topics, e.type))) store.apply(e);
      return Object.fromEntries(Object.keys(p.tables).map((t) => [t, store.rows(t)]));
    },
    readModel: (p: Projection) => readModel(database.db, p),
    /** Waits until the projection's checkpoints reach the end of every partition of its topics. */
    async caughtUp(p: Projection, timeoutMs = 120_000): Promise<void> {
      await waitForCheckpoints(await it_.admin(), database.db as Db, p, topics, timeoutMs);
    },
    async close(): Promise<void> {
      await producer.disconnect();
      await database.teardown();
      await dropNamespace(deps, topics).catch(() => undefined);
      await it_.close();
    },
  };
}

export function topicOf(topics: Topics, type: string): string {
  if (type.startsWith('user.')) return topics.user.events;
  if (type.startsWith('device.')) return topics.device.events;
  if (type.startsWith('order.')) return topics.order.events;
  if (type.startsWith('app.install.')) return topics.appInstall.events;
  return topics.notification.events;
}
