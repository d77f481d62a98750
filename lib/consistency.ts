import { z } from 'zod';
import type { Position } from './commands';
import type { Db } from './db';
import { DomainError, invalid } from './decider';
import { CHECKPOINTS } from './projection-worker';

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
  for (;;) {
    const rows = (await db(CHECKPOINTS)
      .where({ projection: projection.name })
      .whereIn(
        'topic',
        mine.map((p) => p.topic),
      )) as Array<{ topic: string; partition: number; next_offset: number }>;
    const applied = mine.every((p) => {
      const cp = rows.find((r) => r.topic === p.topic && r.partition === p.partition);
      return cp !== undefined && BigInt(cp.next_offset) > BigInt(p.offset);
    });
    if (applied) return;
    if (Date.now() >= deadline) {
      throw new DomainError(
        503,
        'not_yet_consistent',
        `the ${projection.name} read model has not applied your last write yet; retry shortly`,
        { retryAfterSeconds: 1 },
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
