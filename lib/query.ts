import type { Knex } from 'knex';
import type { Context } from 'koa';
import { z } from 'zod';
import { actorOf, type Actor } from './auth';
import { decodeToken, waitForPositions } from './consistency';
import type { Db } from './db';
import { invalid } from './decider';
import { parse } from './http';

/** What every list endpoint takes: a page size (1..200, default 50) and an opaque cursor. */
export const pageParams = {
  limit: z.coerce.number().int().min(1, 'limit is 1 to 200').max(200, 'limit is 1 to 200').default(50),
  cursor: z.string().max(500).optional(),
};

/** Cursors are opaque to clients: the last key of the page, base64url-encoded. */
const encodeCursor = (key: string) => Buffer.from(JSON.stringify({ after: key })).toString('base64url');
function decodeCursor(cursor: string): string {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof v.after === 'string') return v.after;
  } catch {
    /* malformed below */
  }
  throw invalid('cursor is malformed: pass the "next" value of the previous page as it is');
}

/** One page of a query ordered by a unique key: `{ items, next }`, next = null on the last page. */
export async function page<T extends Record<string, unknown>>(
  query: Knex.QueryBuilder,
  key: string,
  params: { limit: number; cursor?: string },
): Promise<{ items: T[]; next: string | null }> {
  if (params.cursor) query.where(key, '>', decodeCursor(params.cursor));
  const rows = (await query.orderBy(key).limit(params.limit + 1)) as T[];
  const items = rows.slice(0, params.limit);
  return { items, next: rows.length > params.limit ? encodeCursor(String(items.at(-1)![key])) : null };
}

/**
 * Scoping: nobody sees another tenant's rows; a user sees their own; a tenant admin sees the whole tenant.
 * A row outside the scope does not exist for the caller (404, so ids don't leak).
 */
export function scoped(query: Knex.QueryBuilder, actor: Actor, table: string): Knex.QueryBuilder {
  query.where(`${table}.tenant_id`, actor.tenantId);
  if (actor.role !== 'tenant_admin') query.where(`${table}.user_id`, actor.userId);
  return query;
}

/** Query parameters validated with zod (400 naming each bad one). */
export const queryParams = <T extends z.ZodRawShape>(ctx: Context, shape: T) => parse(z.strictObject(shape), ctx.query, 'query parameters');

/** Honours X-Consistency-Token: waits until the projection has applied the caller's last write (bounded). */
export async function readAfter(
  ctx: Context,
  db: Db,
  projection: { name: string; topics: readonly string[] },
  timeoutMs: number,
): Promise<void> {
  const token = ctx.get('X-Consistency-Token');
  if (token) await waitForPositions(db, projection, decodeToken(token), timeoutMs);
}

export { actorOf };
