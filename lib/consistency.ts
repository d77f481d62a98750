import { z } from 'zod';
import type { Position } from './commands';
import type { Db } from './db';
import { DomainError, invalid } from './decider';
import { CHECKPOINTS, type CheckpointRow } from './projection-worker';

/**
 * Read-your-writes. A command's response carries a consistency token: the positions its events reached. A query
 * sent with it (X-Consistency-Token) waits, up to a bound, until the projection it reads has applied those
 * positions; past the bound it answers 503 with Retry-After — never stale data presented as fresh.
 */
const positions = z
  .array(z.object({ topic: z.string().min(1), partition: z.number().int().min(0), offset: z.string().regex(/^\d+$/) }))
  .min(1)
  .max(64);

export function encodeToken(ps: readonly Position[]): string {
  return Buffer.from(JSON.stringify(ps)).toString('base64url');
}

export function decodeToken(token: string): Position[] {
  try {
    return positions.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
  } catch {
    throw invalid('X-Consistency-Token is not a token this API issued');
  }
}

const applied = (rows: readonly CheckpointRow[], ps: readonly Position[]) =>
  ps.every((p) => {
    const cp = rows.find((r) => r.topic === p.topic && r.partition === p.partition);
    return cp !== undefined && BigInt(cp.next_offset) > BigInt(p.offset);
  });

const notYet = (name: string) =>
  new DomainError(503, 'not_yet_consistent', `the ${name} read model has not applied your last write yet; retry shortly`, {
    retryAfterSeconds: 1,
  });

interface Waiter {
  readonly positions: readonly Position[];
  readonly deadline: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * The requests waiting on one projection of one database share a single poll of its checkpoints (every 20 ms,
 * only while someone waits). A poll per waiting request put hundreds of checkpoint queries a second on the
 * database the projection was trying to write to, under load (npm run bench: end-to-end visibility).
 */
const watchers = new WeakMap<Db, Map<string, Set<Waiter>>>();

async function watch(db: Db, name: string, waiters: Set<Waiter>): Promise<void> {
  while (waiters.size > 0) {
    await new Promise((r) => setTimeout(r, 20));
    let rows: CheckpointRow[];
    try {
      rows = (await db(CHECKPOINTS).where({ projection: name })) as CheckpointRow[];
    } catch (err) {
      for (const w of waiters) w.reject(err);
      waiters.clear();
      break;
    }
    const now = Date.now();
    for (const w of [...waiters]) {
      if (applied(rows, w.positions)) w.resolve();
      else if (now >= w.deadline) w.reject(notYet(name));
      else continue;
      waiters.delete(w);
    }
  }
  watchers.get(db)?.delete(name);
}

/** Waits until `projection` has applied every position of the token that lies on one of its topics. */
export async function waitForPositions(
  db: Db,
  projection: { name: string; topics: readonly string[] },
  ps: readonly Position[],
  timeoutMs: number,
): Promise<void> {
  const mine = ps.filter((p) => projection.topics.includes(p.topic));
  if (mine.length === 0) return;
  const deadline = Date.now() + timeoutMs;
  const rows = (await db(CHECKPOINTS)
    .where({ projection: projection.name })
    .whereIn(
      'topic',
      mine.map((p) => p.topic),
    )) as CheckpointRow[];
  if (applied(rows, mine)) return;
  if (Date.now() >= deadline) throw notYet(projection.name);
  if (!watchers.has(db)) watchers.set(db, new Map());
  const byProjection = watchers.get(db)!;
  return new Promise<void>((resolve, reject) => {
    let waiters = byProjection.get(projection.name);
    const first = waiters === undefined;
    if (!waiters) {
      waiters = new Set();
      byProjection.set(projection.name, waiters);
    }
    waiters.add({ positions: mine, deadline, resolve, reject });
    if (first) void watch(db, projection.name, waiters);
  });
}
