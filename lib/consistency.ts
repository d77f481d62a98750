import { z } from 'zod';
import type { Position } from './commands';
import type { Db } from './db';
import { DomainError, invalid } from './errors';
import { knownNext, noteApplied, onApplied } from './applied-positions';
import { CHECKPOINTS, type CheckpointRow } from './projection-worker';
import { sleep } from './wait';

/**
 * Read-your-writes. A command's response carries a consistency token: the positions its events reached. A query
 * sent with it (X-Consistency-Token) waits, up to a bound, until the projection it reads has applied those
 * positions; past the bound it answers 503 with Retry-After — never stale data presented as fresh.
 *
 * What a token holds: positions within Kafka's bounds (topic names are 1..249 of letters, digits, ".", "_", "-";
 * partitions an int32; offsets an int64). The API issues one position per token; a token holds at most 64, in at
 * most 8 KiB of base64url.
 */
const MAX_OFFSET = 2n ** 63n - 1n;
const MAX_TOKEN_LENGTH = 8192;
const BASE64URL = /^[\w-]+={0,2}$/;
const positions = z
  .array(
    z.strictObject({
      topic: z.string().regex(/^[\w.-]{1,249}$/),
      partition: z.number().int().min(0).max(2_147_483_647),
      offset: z
        .string()
        .regex(/^\d{1,19}$/)
        .refine((o) => BigInt(o) <= MAX_OFFSET),
    }),
  )
  .min(1)
  .max(64);

export function encodeToken(ps: readonly Position[]): string {
  return Buffer.from(JSON.stringify(ps)).toString('base64url');
}

/**
 * The positions of an X-Consistency-Token, each on one of `topics` (the platform's event topics); anything else
 * is a 400 naming the header, before any wait: a token this API could not have issued.
 */
export function decodeToken(token: string, topics: readonly string[]): Position[] {
  const reject = (message: string) =>
    invalid('X-Consistency-Token is not a token this API issued', { errors: [{ field: 'X-Consistency-Token', message }] });
  if (token.length > MAX_TOKEN_LENGTH) throw reject(`a token is at most ${MAX_TOKEN_LENGTH} characters`);
  if (!BASE64URL.test(token)) throw reject('a token is base64url');
  let ps: Position[];
  try {
    ps = positions.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
  } catch {
    throw reject('pass the consistencyToken of a command answer as it is');
  }
  const unknown = ps.find((p) => !topics.includes(p.topic));
  if (unknown) throw reject(`the token names a topic this API does not write: ${unknown.topic}`);
  return ps;
}

/** Whether this process knows `projection` applied every position (lib/applied-positions.ts). */
const applied = (db: Db, name: string, ps: readonly Position[]) =>
  ps.every((p) => knownNext(db, name, p.topic, p.partition) > BigInt(p.offset));

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

async function readCheckpoints(db: Db, name: string, topics?: readonly string[]): Promise<void> {
  const q = db(CHECKPOINTS).where({ projection: name });
  const rows = (await (topics ? q.whereIn('topic', topics) : q)) as CheckpointRow[];
  noteApplied(
    db,
    name,
    rows.map((r) => ({ topic: r.topic, partition: r.partition, next: BigInt(r.next_offset) })),
  );
}

/**
 * The requests waiting on one projection of one database share one watch: woken at once when a worker of this
 * process commits a batch of that projection, and polling the checkpoints every 20 ms (only while someone
 * waits) for workers in other processes. A poll per waiting request put hundreds of checkpoint queries a
 * second on the database the projection was trying to write to, under load (npm run bench: visibility).
 */
const watchers = new WeakMap<Db, Map<string, Set<Waiter>>>();

async function watch(db: Db, name: string, waiters: Set<Waiter>): Promise<void> {
  const settle = () => {
    const now = Date.now();
    for (const w of [...waiters]) {
      if (applied(db, name, w.positions)) w.resolve();
      else if (now >= w.deadline) w.reject(notYet(name));
      else continue;
      waiters.delete(w);
    }
  };
  const off = onApplied(db, name, settle);
  try {
    while (waiters.size > 0) {
      await sleep(20);
      if (waiters.size === 0) break;
      try {
        await readCheckpoints(db, name);
      } catch (err) {
        for (const w of waiters) w.reject(err);
        waiters.clear();
        break;
      }
      settle();
    }
  } finally {
    off();
    watchers.get(db)?.delete(name);
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
  if (mine.length === 0 || applied(db, projection.name, mine)) return;
  const deadline = Date.now() + timeoutMs;
  await readCheckpoints(
    db,
    projection.name,
    mine.map((p) => p.topic),
  );
  if (applied(db, projection.name, mine)) return;
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
