import { PassThrough } from 'node:stream';
import Router from '@koa/router';
import { z } from 'zod';
import { actorOf, tokenExpiresAt } from '../lib/auth';
import type { Change, ChangeFeed } from '../lib/change-feed';
import type { Config } from '../lib/config';
import { DomainError } from '../lib/errors';
import { lastEventId } from '../lib/validation';
import { parse } from '../lib/http';
import type { Operation } from '../lib/openapi';
import { queryAuth } from './query-auth';
import type { QueryDeps } from './query-deps';

/** Where to resume: the Last-Event-ID header (checked with every header), or `lastEventId` where a client cannot set headers. */
const streamQuery = z.strictObject({ lastEventId: lastEventId.optional() });

/** How often a quiet stream sends a comment, so proxies and clients know it is alive. */
const KEEPALIVE_MS = 15_000;
/** A client that stops reading is cut off once this much waits for it (it resumes with Last-Event-ID). */
const MAX_UNREAD_BYTES = 1 << 20;

export const streamOperations: Operation[] = [
  {
    method: 'get',
    path: '/stream',
    summary:
      'Server-Sent Events: the changes of the read models the caller may see (events device, session, order, notification), as the query API shows them; the first message (event `ready`) names where the stream starts; every message has an id, and reconnecting with Last-Event-ID resumes after it with no gap and no duplicate (event `reset`: the id is not one the stream keeps, read afresh)',
    tag: 'live push',
    access: 'user',
    query: streamQuery,
    headers: ['Last-Event-ID'],
    responses: { 200: { contentType: 'text/event-stream', schema: z.string() } },
    problems: [400, 401, 429, 503],
  },
];

/** One Server-Sent Events message (the data is one line of JSON: JSON escapes every line break). */
const message = (c: Change) => `id: ${c.id}\nevent: ${c.kind}\ndata: ${JSON.stringify(c.data)}\n\n`;

/**
 * GET /stream: the caller's changes pushed as they are applied (lib/change-feed.ts), with the query API's auth and
 * scope; bounded in clients per process and per user, cut off when it does not read, and ended when its token
 * expires.
 */
export function streamRoutes(deps: QueryDeps & { feed: ChangeFeed; limits: Config['stream'] }): Router {
  const router = new Router();
  router.get('/stream', queryAuth(deps), async (ctx) => {
    const actor = actorOf(ctx);
    const query = parse(streamQuery, ctx.query, 'query parameters');
    const resume = ctx.get('Last-Event-ID') || query.lastEventId;
    const after = resume ? Number(resume) : undefined;
    if (deps.feed.connected() >= deps.limits.maxClients) {
      ctx.set('Retry-After', '5');
      throw new DomainError(503, 'unavailable', 'this instance serves as many streams as it may; retry shortly');
    }
    if (deps.feed.connected(actor) >= deps.limits.maxPerUser) {
      throw new DomainError(429, 'too_many_streams', `at most ${deps.limits.maxPerUser} streams per user at once`);
    }
    await deps.feed.start();

    const body = new PassThrough();
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.status = 200;
    ctx.type = 'text/event-stream';
    ctx.set('Cache-Control', 'no-cache, no-transform');
    ctx.set('X-Accel-Buffering', 'no');
    ctx.body = body;

    // Filled once subscribed (the client may go away before that).
    const subscription: { close?: () => void } = {};
    const close = () => {
      clearInterval(keepalive);
      clearTimeout(expiry);
      subscription.close?.();
      body.end();
    };
    const write = (chunk: string) => {
      if (body.writableEnded) return;
      body.write(chunk);
      if (body.writableLength > MAX_UNREAD_BYTES) close();
    };
    const keepalive = setInterval(() => write(': keepalive\n\n'), KEEPALIVE_MS);
    // A stream lives no longer than its token: the client reconnects with a fresh one and resumes.
    const expiry = setTimeout(close, Math.min(2 ** 31 - 1, Math.max(0, tokenExpiresAt(ctx) * 1000 - Date.now())));
    // The response's close: the client went away (the request's own close comes as soon as it is read).
    ctx.res.on('close', close);
    write('retry: 2000\n\n');
    const { close: unsubscribe } = await deps.feed.subscribe(actor, after, {
      change: (c) => write(message(c)),
      // The first message names where the client starts: a client cut off before any change resumes from it.
      ready: (from) => write(`id: ${from}\nevent: ready\ndata: {}\n\n`),
      reset: () =>
        write(`event: reset\ndata: ${JSON.stringify({ reason: 'the Last-Event-ID is not one this stream keeps: read afresh' })}\n\n`),
    });
    subscription.close = unsubscribe;
    if (body.writableEnded) unsubscribe();
  });
  return router;
}
