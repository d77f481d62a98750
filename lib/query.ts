import type { Knex } from 'knex';
import type { Context } from 'koa';
import { z } from 'zod';
import { actorOf, scoped, type Actor } from './auth';
import { decodeToken, waitForPositions } from './consistency';
import type { Db } from './db';
import { invalid } from './errors';
import { parse } from './http';
import { eventTopics, type Topics } from './topics';
import { inSpan } from './tracing';
import { text } from './validation';

/** A time in an answer: ISO 8601 in UTC (what JSON makes of a Date, said in the schema). */
export const timestamp = z.iso.datetime();
export const iso = (d: Date): string => d.toISOString();
export const isoOrNull = (d: Date | null): string | null => (d === null ? null : d.toISOString());
/** Money in an answer: integer minor units and the currency. */
export const moneyView = z.object({ amount: z.number().int(), currency: z.string() });

/** The answer of every list endpoint: a page of items and the cursor of the next page (null on the last). */
export const pageOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), next: z.string().nullable() });

/** What every list endpoint takes: a page size (1..200, default 50) and an opaque cursor (checked by `queryParams`). */
export const pageParams = {
  limit: z.coerce.number().int().min(1, 'limit is 1 to 200').max(200, 'limit is 1 to 200').default(50),
  cursor: z.string().max(500, 'cursor is malformed: pass the "next" value of the previous page as it is').optional(),
};

/**
 * Cursors are opaque to clients: `{"after": key}` of the last row of the page, JSON in base64url. The key is a
 * column a list pages by (an id today); a decoded key must be text PostgreSQL takes (lib/validation.ts `text`).
 */
const cursorBody = z.strictObject({ after: text(256) });
const BASE64URL = /^[\w-]+={0,2}$/;
const encodeCursor = (key: string) => Buffer.from(JSON.stringify({ after: key })).toString('base64url');
function decodeCursor(cursor: string): string {
  const message = 'cursor is malformed: pass the "next" value of the previous page as it is';
  if (BASE64URL.test(cursor)) {
    try {
      const body = cursorBody.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
      if (body.success) return body.data.after;
    } catch {
      /* not JSON: malformed below */
    }
  }
  throw invalid(message, { errors: [{ field: 'cursor', message }] });
}

/** A list the query API offers: how to build it for a caller and filters, and the unique key it pages by. */
export interface ListQuery<F> {
  readonly key: string;
  build(db: Db, actor: Actor, filters: F): Knex.QueryBuilder;
}

/** The query a page of a list runs (the same SQL the API sends; the index check EXPLAINs it). */
export function pageQuery<F>(
  list: ListQuery<F>,
  db: Db,
  actor: Actor,
  filters: F,
  params: { limit: number; cursor?: string },
): Knex.QueryBuilder {
  const query = list.build(db, actor, filters);
  if (params.cursor) query.where(list.key, '>', decodeCursor(params.cursor));
  return query.orderBy(list.key).limit(params.limit + 1);
}

/** One page of a list: `{ items, next }`, next = null on the last page. */
export async function listPage<F, T extends Record<string, unknown>>(
  list: ListQuery<F>,
  db: Db,
  actor: Actor,
  filters: F,
  params: { limit: number; cursor?: string },
): Promise<{ items: T[]; next: string | null }> {
  const rows = (await pageQuery(list, db, actor, filters, params)) as T[];
  const items = rows.slice(0, params.limit);
  return { items, next: rows.length > params.limit ? encodeCursor(String(items.at(-1)![list.key])) : null };
}

/**
 * Query parameters validated with a strict zod object (400 naming each bad one, an unknown one included); the
 * cursor of a list is decoded and checked here too, so bad input is a 400 before any wait or any SQL.
 */
export function queryParams<T extends z.ZodObject>(ctx: Context, schema: T): z.infer<T> {
  const params = parse(schema, ctx.query, 'query parameters');
  const { cursor } = params as { cursor?: unknown };
  if (typeof cursor === 'string' && cursor) decodeCursor(cursor);
  return params;
}

/** What `readAfter` needs: the read models' database, the platform's topics and the bound of a wait. */
export interface ReadAfterDeps {
  db: Db;
  topics: Topics;
  consistencyTimeoutMs: number;
}

/**
 * Honours X-Consistency-Token: waits until the projection has applied the caller's last write (bounded). A token
 * this API could not have issued (malformed, or naming a topic that is not one of the platform's) is a 400.
 */
export async function readAfter(ctx: Context, deps: ReadAfterDeps, projection: { name: string; topics: readonly string[] }): Promise<void> {
  const token = ctx.get('X-Consistency-Token');
  if (!token) return;
  const known = eventTopics(deps.topics).map((t) => t.events);
  const positions = decodeToken(token, known);
  await inSpan(`wait for ${projection.name}`, {}, () => waitForPositions(deps.db, projection, positions, deps.consistencyTimeoutMs));
}

/**
 * A list endpoint: the query parameters validated, read after the caller's consistency token, one keyset page of the
 * caller's rows, each row shown through `view`.
 */
export function listHandler<Q extends z.ZodObject, R extends Record<string, unknown>>(
  deps: ReadAfterDeps,
  projection: { name: string; topics: readonly string[] },
  spec: { query: Q; list: ListQuery<z.infer<Q>>; view: (row: R) => unknown },
) {
  return async (ctx: Context): Promise<void> => {
    const q = queryParams(ctx, spec.query);
    await readAfter(ctx, deps, projection);
    const result = await listPage<z.infer<Q>, R>(spec.list, deps.db, actorOf(ctx), q, q as { limit: number; cursor?: string });
    ctx.body = { items: result.items.map(spec.view), next: result.next };
  };
}

export { actorOf, scoped };
