import type { Knex } from 'knex';
import pg from 'pg';
import { maySee, scoped, type Actor } from './auth';
import type { Db } from './db';
import type { Logger } from './logger';
import type { Changed, Projection, Row } from './projection';

/**
 * The change feed behind GET /stream: the rows of pushed tables (TableSpec `push`) a projection batch wrote are
 * recorded in `read_model_changes` in the batch's own transaction, so a change is recorded exactly when, and as
 * often as, the read model changed; ids are handed out in commit order, so a reader that has seen id N has seen
 * every change before it. Readers follow the table (NOTIFY wakes them, a poll catches what a lost connection
 * missed) and push each change to the connected clients who may see it.
 */
export const CHANGES = 'read_model_changes';
/** The NOTIFY channel of every schema's feed (the payload names the schema: test namespaces share a database). */
export const CHANGES_CHANNEL = 'cloudphone_read_model_changes';
/** The class of the advisory lock a writer holds from its changes' ids to its commit (the other key is the schema). */
const FEED_LOCK_CLASS = 726_431_991;

/**
 * Records the pushed rows a batch changed, as they are now in this transaction. Call it last before the commit:
 * the lock it takes is held to the end, so the ids of the next batch's changes are drawn after this one commits.
 */
export async function recordChanges(trx: Knex.Transaction, projection: Projection, changed: Changed): Promise<void> {
  // A user's fields copied onto rows (a rename, an erasure) are copied onto the changes recorded of those rows
  // too: the feed keeps no value the read models no longer hold (an erased user's name, email and phone).
  for (const c of changed.cascades) {
    const kind = projection.tables[c.table]?.push;
    if (kind) {
      await trx(CHANGES)
        .where({ kind, user_id: c.userId })
        .update({ row: trx.raw('row || ?::jsonb', [JSON.stringify(c.fields)]) });
    }
  }
  const pushed = [...changed.rows].filter(([t, keys]) => projection.tables[t]?.push && keys.size > 0);
  if (pushed.length === 0) return;
  await trx.raw('select pg_advisory_xact_lock(?, hashtext(current_schema()))', [FEED_LOCK_CLASS]);
  for (const [table, keys] of pushed) {
    const spec = projection.tables[table]!;
    await trx.raw(
      'insert into ?? (kind, key, tenant_id, user_id, row) select ?, ??, tenant_id, user_id, to_jsonb(r) from ?? r where ?? = any(?) order by ??',
      [CHANGES, spec.push!, spec.key, table, spec.key, [...keys], spec.key],
    );
  }
  await trx.raw('select pg_notify(?, current_schema())', [CHANGES_CHANNEL]);
}

/** Forgets the changes older than `retentionMs` (a client resuming from before them is told to read afresh). */
export async function pruneChanges(db: Db, retentionMs: number): Promise<number> {
  return db(CHANGES)
    .where('changed_at', '<', new Date(Date.now() - retentionMs))
    .del();
}

/** A change as clients get it: its id (the SSE id), its kind (the SSE event) and the row in the query API's view. */
export interface Change {
  readonly id: number;
  readonly kind: string;
  readonly tenantId: string | null;
  readonly userId: string | null;
  readonly data: unknown;
}

/** How a pushed table's row is shown: the query API's view of it (a typed row in, what the API answers out). */
export type PushView = (row: Row) => unknown;
/** A view of rows of one table's type: the feed gives it the row as the table holds it (timestamps as Dates). */
export const pushView =
  <R extends Row>(view: (row: R) => unknown): PushView =>
  (row) =>
    view(row as R);

/** A connected client: who it is, the last id it was sent, and how to send it a change. */
interface Subscriber {
  readonly actor: Actor;
  cursor: number;
  readonly send: (c: Change) => void;
  pumping: boolean;
  again: boolean;
  closed: boolean;
}

const PAGE = 500;

/**
 * One process's reader of the feed: it keeps the latest changes in memory (`bufferSize`) and sends each client
 * what it may see after its cursor, in id order, once; a client whose cursor is older than the buffer (a resume)
 * reads its own changes from the table first. `views` says how each kind is shown.
 */
export function createChangeFeed(deps: {
  db: Db;
  /** A connection URL for LISTEN (a connection of its own; the pool's would be handed to other queries). */
  listenUrl: string;
  schema: string;
  views: Readonly<Record<string, { readonly table: string; readonly view: PushView }>>;
  logger: Logger;
  bufferSize?: number;
  pollMs?: number;
}) {
  const { db, schema, views } = deps;
  const logger = deps.logger.child({ component: 'change-feed' });
  const bufferSize = deps.bufferSize ?? 10_000;
  const subscribers = new Set<Subscriber>();
  let buffer: Change[] = [];
  /** The buffer holds every change with an id in (bufferFrom, head]. */
  let bufferFrom = 0;
  let head = 0;
  let polling: Promise<void> | undefined;
  let pollAgain = false;
  let listener: pg.Client | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let dateColumns = new Map<string, string[]>();
  let starting: Promise<void> | undefined;

  /** The table's timestamp columns, revived from the JSON of a recorded row. */
  async function loadDateColumns(): Promise<void> {
    const tables = Object.values(views).map((v) => v.table);
    const rows = (await db('information_schema.columns')
      .where('table_schema', schema)
      .whereIn('table_name', tables)
      .where('data_type', 'like', 'timestamp%')
      .select('table_name', 'column_name')) as Array<{ table_name: string; column_name: string }>;
    dateColumns = new Map(tables.map((t) => [t, rows.filter((r) => r.table_name === t).map((r) => r.column_name)]));
  }

  type ChangeRow = { id: number; kind: string; tenant_id: string | null; user_id: string | null; row: Row };
  function toChange(r: ChangeRow): Change {
    const push = views[r.kind];
    const row = { ...r.row };
    for (const c of dateColumns.get(push?.table ?? '') ?? []) if (typeof row[c] === 'string') row[c] = new Date(row[c]);
    return { id: r.id, kind: r.kind, tenantId: r.tenant_id, userId: r.user_id, data: push ? push.view(row) : row };
  }

  const columns = ['id', 'kind', 'tenant_id', 'user_id', 'row'];

  /** Reads what was recorded past the head into the buffer, page by page, waking the clients after each page. */
  async function pollOnce(): Promise<void> {
    for (;;) {
      const rows = (await db(CHANGES).where('id', '>', head).orderBy('id').limit(PAGE).select(columns)) as ChangeRow[];
      if (rows.length === 0) return;
      buffer.push(...rows.map(toChange));
      head = rows.at(-1)!.id;
      if (buffer.length > bufferSize) {
        const dropped = buffer.length - bufferSize;
        bufferFrom = buffer[dropped - 1]!.id;
        buffer = buffer.slice(dropped);
      }
      for (const s of subscribers) void pump(s);
      if (rows.length < PAGE) return;
    }
  }
  function poll(): Promise<void> {
    if (polling) {
      pollAgain = true;
      return polling;
    }
    polling = (async () => {
      try {
        do {
          pollAgain = false;
          await pollOnce();
        } while (pollAgain && !stopped);
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'could not read the change feed; trying again on the next poll');
      } finally {
        polling = undefined;
      }
    })();
    return polling;
  }

  /** The first buffered change after `cursor` (binary search: the buffer is in id order). */
  function bufferIndexAfter(cursor: number): number {
    let lo = 0;
    let hi = buffer.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (buffer[mid]!.id <= cursor) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** One client's own changes in (cursor, upTo], from the table: a resume older than the buffer. */
  async function readScoped(actor: Actor, cursor: number, upTo: number): Promise<ChangeRow[]> {
    const q = scoped(db(CHANGES).where('id', '>', cursor).andWhere('id', '<=', upTo), actor, CHANGES);
    return (await q.orderBy('id').limit(PAGE).select(columns)) as ChangeRow[];
  }

  /** Sends a client everything it may see past its cursor, up to the head; one pump per client at a time. */
  async function pump(s: Subscriber): Promise<void> {
    if (s.pumping) {
      s.again = true;
      return;
    }
    s.pumping = true;
    try {
      do {
        s.again = false;
        while (!s.closed && s.cursor < head) {
          if (s.cursor >= bufferFrom) {
            // The buffer is read without a pause: nothing moves the head meanwhile.
            for (let i = bufferIndexAfter(s.cursor); i < buffer.length && !s.closed; i++) {
              if (maySee(s.actor, buffer[i]!)) s.send(buffer[i]!);
            }
            s.cursor = head;
          } else {
            const upTo = head;
            const rows = await readScoped(s.actor, s.cursor, upTo);
            for (const r of rows) {
              if (s.closed) break;
              s.send(toChange(r));
              s.cursor = r.id;
            }
            if (rows.length < PAGE) s.cursor = Math.max(s.cursor, upTo);
          }
        }
      } while (s.again && !s.closed);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'could not send a client its changes; it gets them on the next wake');
    } finally {
      s.pumping = false;
    }
  }

  /** LISTENs on a connection of its own; a lost connection is made again (the poll covers what it missed). */
  async function listen(): Promise<void> {
    if (stopped) return;
    const client = new pg.Client({ connectionString: deps.listenUrl });
    const retry = () => {
      if (listener !== client) return;
      listener = undefined;
      client.end().catch(() => undefined);
      if (!stopped) setTimeout(() => void listen(), 1_000).unref();
    };
    listener = client;
    client.on('error', (err) => {
      logger.warn({ err: err.message }, 'the change feed lost its LISTEN connection; listening again in 1 s');
      retry();
    });
    client.on('end', retry);
    client.on('notification', (n) => {
      if (n.payload === schema) void poll();
    });
    try {
      await client.connect();
      await client.query(`listen ${CHANGES_CHANNEL}`);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'the change feed could not LISTEN; trying again in 1 s');
      retry();
    }
  }

  /** The first client's start: the date columns known, the head read, LISTEN, and the safety poll. */
  async function begin(): Promise<void> {
    await loadDateColumns();
    head = bufferFrom = Number(((await db(CHANGES).max({ id: 'id' }).first()) as { id: number | null } | undefined)?.id ?? 0);
    await listen();
    timer = setInterval(() => {
      void poll().then(() => {
        for (const s of subscribers) if (s.cursor < head) void pump(s);
      });
    }, deps.pollMs ?? 1_000);
    timer.unref();
  }

  return {
    /**
     * Starts at the end of the feed, on the first client (what was recorded before is read by clients that
     * resume from it); later calls wait for that start.
     */
    start(): Promise<void> {
      starting ??= begin();
      return starting;
    },
    /** The id of the latest change this reader has. */
    head: () => head,
    /**
     * A client from `after` (a Last-Event-ID; the head when absent): it is sent every change it may see after it,
     * in order. When `after` is not a point of this feed (older than what it keeps, or ahead of it) it is told to
     * `reset` first (read the query API afresh) and starts at the head. `ready` tells it where it starts.
     */
    async subscribe(
      actor: Actor,
      after: number | undefined,
      to: { change: (c: Change) => void; reset: () => void; ready: (from: number) => void },
    ): Promise<{ close: () => void }> {
      let cursor = after ?? head;
      if (after !== undefined) {
        const oldest = Number(((await db(CHANGES).min({ id: 'id' }).first()) as { id: number | null } | undefined)?.id ?? head + 1);
        if (after > head || after < oldest - 1) {
          cursor = head;
          to.reset();
        }
      }
      to.ready(cursor);
      const s: Subscriber = { actor, cursor, send: to.change, pumping: false, again: false, closed: false };
      subscribers.add(s);
      void pump(s);
      return {
        close: () => {
          s.closed = true;
          subscribers.delete(s);
        },
      };
    },
    /** How many clients are connected, and how many of them are this actor. */
    connected: (actor?: Actor) =>
      actor
        ? [...subscribers].filter((s) => s.actor.userId === actor.userId && s.actor.tenantId === actor.tenantId).length
        : subscribers.size,
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearInterval(timer);
      for (const s of subscribers) s.closed = true;
      subscribers.clear();
      const l = listener;
      listener = undefined;
      await l?.end().catch(() => undefined);
      await polling;
    },
  };
}

export type ChangeFeed = ReturnType<typeof createChangeFeed>;
