import fc from 'fast-check';
import type { Db } from '../lib/db';
import type { AnyEvent } from '../lib/event-log';
import { createProducer } from '../lib/kafka';
import { memoryStore, type Projection } from '../lib/projection';
import type { Topics } from '../lib/topics';
import { buildStreams, historyArb, historyTopics } from './histories';
import { testNamespace } from './namespace';
import { readModel, waitForCheckpoints } from './projection-harness';
import { integration } from './support';

/** A namespace with its topics, a database schema, and helpers to feed histories and wait for the projections. */
export async function readSideFixture(prefix: string) {
  const it_ = integration();
  const ns = testNamespace(it_, `test-${prefix}`, { partitions: 3, database: { prefix, migrate: true } });
  const { topics, cfg } = ns;
  const database = ns.database!;
  await ns.setup();
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
      const names = historyTopics(topics);
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
      await ns.teardown({ ignoreDropErrors: true });
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

export type ReadSideFixture = Awaited<ReturnType<typeof readSideFixture>>;
