import fc from 'fast-check';
import type { Admin } from 'kafkajs';
import { loadConfig } from '../lib/config';
import { createDb, migrate, type Db } from '../lib/db';
import { applyBatch, memoryStore, type Projection } from '../lib/projection';
import { CHECKPOINTS, type CheckpointRow } from '../lib/projection-worker';
import { topicsFor, type Topics } from '../lib/topics';
import { endOffsets, partitionKey } from '../lib/topic-reader';
import { buildStreams, deliver, historyArb, historyTopics, shredded, type HistorySpec } from './histories';
import { unique, waitFor } from './support';

const topics = topicsFor('t');
const names = historyTopics(topics);

/** A PostgreSQL schema of its own for one test file, migrated, dropped at the end. */
export function testDatabase(prefix: string) {
  const schema = unique(`test_${prefix}`).replace(/\W/g, '_');
  const db: Db = createDb(loadConfig().database.url, { schema, poolMax: 4 });
  return {
    db,
    schema,
    setup: () => migrate(db, schema),
    teardown: async () => {
      await db.raw('drop schema if exists ?? cascade', [schema]);
      await db.destroy();
    },
    truncate: (p: Projection) =>
      db.raw(
        `truncate ${Object.keys(p.tables)
          .map(() => '??')
          .join(', ')}`,
        Object.keys(p.tables),
      ),
  };
}

/** Every table of the projection, read back ordered by key. */
export async function readModel(db: Db, p: Projection): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const [t, spec] of Object.entries(p.tables)) out[t] = await db(t).orderBy(spec.key);
  return out;
}

/** The reference: the pure fold of the events in memory, partition log after partition log. */
export function referenceModel(p: Projection, h: HistorySpec, runId: string): Record<string, unknown[]> {
  const mine = new Set(p.topics(topics));
  const ref = memoryStore(p);
  for (const s of buildStreams(h, names, runId)) if (mine.has(s.topic)) for (const e of s.events) ref.apply(e);
  return Object.fromEntries(Object.keys(p.tables).map((t) => [t, ref.rows(t)]));
}

/**
 * The convergence property: histories made by the real deciders, delivered in random cross-topic interleavings
 * and batch sizes (each partition's order kept), applied to PostgreSQL batch by batch, always give the read
 * model of the pure fold — and so does the same log read as a rebuild reads it after erasures, every erased
 * user's personal data [erased] (crypto-shredding: lib/pii.ts).
 */
export async function assertConvergence(p: Projection, db: ReturnType<typeof testDatabase>, numRuns = 40): Promise<void> {
  let run = 0;
  const mine = new Set(p.topics(topics));
  await fc.assert(
    fc.asyncProperty(historyArb, async (h) => {
      const runId = `r${run++}`;
      const expected = referenceModel(p, h, runId);
      for (const streams of [buildStreams(h, names, runId), shredded(buildStreams(h, names, runId))]) {
        await db.truncate(p);
        for (const batch of deliver(streams, h.schedule)) {
          if (mine.has(batch.stream.topic)) await db.db.transaction((trx) => applyBatch(trx, p, batch.events));
        }
        expect(await readModel(db.db, p)).toEqual(expected);
      }
    }),
    { numRuns },
  );
}

/** Waits until a projection's checkpoints in `db` reach the end offsets its topics have now, on every partition. */
export async function waitForCheckpoints(admin: Admin, db: Db, p: Projection, topics: Topics, timeoutMs: number): Promise<void> {
  const ends = await endOffsets(admin, p.topics(topics));
  await waitFor(
    async () => {
      const rows = (await db(CHECKPOINTS).where({ projection: p.name })) as CheckpointRow[];
      const at = new Map(rows.map((r) => [partitionKey(r.topic, r.partition), Number(r.next_offset)]));
      return [...ends].every(([k, { end }]) => end === 0 || (at.get(k) ?? 0) >= end) ? true : undefined;
    },
    { what: `${p.name} to reach the end of its topics`, timeoutMs, intervalMs: 200 },
  );
}
