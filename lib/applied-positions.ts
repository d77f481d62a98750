import type { Db } from './db';

/**
 * What the projection workers of this process have committed, per database and projection: the next offset of
 * each topic partition, as written with the batch in its transaction. The consistency check reads it before
 * asking the database, and is told at once when it moves (instead of at its next poll). Only ever behind the
 * database (a worker notes a position after its transaction committed), so a read that trusts it is never stale;
 * workers in other processes are seen through the database poll only.
 */
type Listener = () => void;
/** Per database: the next offset by projection, topic and partition (`key`), and who listens, by projection. */
const known = new WeakMap<Db, Map<string, bigint>>();
const listeners = new WeakMap<Db, Map<string, Set<Listener>>>();

const key = (projection: string, topic: string, partition: number) => `${projection}\0${topic}/${partition}`;

/** The next offset this process knows `projection` reached in a topic partition of `db` (0n if none). */
export function knownNext(db: Db, projection: string, topic: string, partition: number): bigint {
  return known.get(db)?.get(key(projection, topic, partition)) ?? 0n;
}

/** Records committed positions (from a worker, or from a read of the checkpoints) and wakes whoever listens. */
export function noteApplied(db: Db, projection: string, rows: ReadonlyArray<{ topic: string; partition: number; next: bigint }>): void {
  const positions = known.get(db) ?? new Map<string, bigint>();
  known.set(db, positions);
  let moved = false;
  for (const r of rows) {
    const k = key(projection, r.topic, r.partition);
    if (r.next > (positions.get(k) ?? 0n)) {
      positions.set(k, r.next);
      moved = true;
    }
  }
  if (moved) for (const l of [...(listeners.get(db)?.get(projection) ?? [])]) l();
}

/** Calls `listener` whenever a position of `projection` moves; returns the unsubscribe function. */
export function onApplied(db: Db, projection: string, listener: Listener): () => void {
  const byProjection = listeners.get(db) ?? new Map<string, Set<Listener>>();
  listeners.set(db, byProjection);
  const set = byProjection.get(projection) ?? new Set<Listener>();
  byProjection.set(projection, set.add(listener));
  return () => set.delete(listener);
}
