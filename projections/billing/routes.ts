import Router from '@koa/router';
import { z } from 'zod';
import { notFound } from '../../lib/errors';
import { pathId } from '../../lib/http';
import { pushView } from '../../lib/change-feed';
import { queryOperation, type Operation } from '../../lib/openapi';
import {
  actorOf,
  iso,
  isoOrNull,
  listHandler,
  moneyView,
  pageOf,
  pageParams,
  queryParams,
  readAfter,
  scoped,
  timestamp,
} from '../../lib/query';
import { id } from '../../lib/validation';
import { orderList, sessionList } from './queries';
import { queryAuth } from '../query-auth';
import type { QueryDeps } from '../query-deps';
import { billingProjection, type OrderRow, type SessionRow } from './projection';

const userFieldsView = z.object({ username: z.string().nullable(), email: z.string().nullable(), status: z.string().nullable() });
const orderView = z.object({
  id: z.string(),
  tenantId: z.string().nullable(),
  userId: z.string(),
  planId: z.string(),
  planName: z.string(),
  amount: moneyView,
  paid: moneyView,
  refunded: moneyView,
  status: z.enum(['created', 'paid', 'cancelled', 'partially_refunded', 'refunded']),
  paymentMethod: z.string().nullable(),
  paymentRef: z.string().nullable(),
  cancelReason: z.string().nullable(),
  createdAt: timestamp,
  paidAt: timestamp.nullable(),
  cancelledAt: timestamp.nullable(),
  refundedAt: timestamp.nullable(),
  user: userFieldsView,
  version: z.number().int(),
});
const sessionView = z.object({
  id: z.string(),
  deviceId: z.string(),
  tenantId: z.string().nullable(),
  userId: z.string(),
  tier: z.string(),
  rateFenPerMinute: z.number().int(),
  status: z.enum(['open', 'closed']),
  startedAt: timestamp,
  stoppedAt: timestamp.nullable(),
  durationSeconds: z.number().int().nullable(),
  billedMinutes: z.number().int().nullable(),
  cost: moneyView.nullable(),
  closeReason: z.enum(['stopped', 'deleted']).nullable(),
  user: userFieldsView,
});
const usageTotals = z.object({ sessions: z.number().int(), seconds: z.number().int(), cost: moneyView });
const usageView = z.object({
  days: z.array(usageTotals.extend({ userId: z.string(), day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/) })),
  totals: usageTotals,
});

/** Times and days are real ones (2026-02-31 is a 400, not a date PostgreSQL or JavaScript rolls over). */
const isoTime = z.iso.datetime({ offset: true, error: 'a time is ISO 8601, e.g. 2026-11-25T08:00:00Z' });
const day = z.iso.date({ error: 'a day is a date YYYY-MM-DD, e.g. 2026-11-25' });
const orderQuery = z.strictObject({
  ...pageParams,
  userId: id.optional(),
  status: z.enum(['created', 'paid', 'cancelled', 'partially_refunded', 'refunded']).optional(),
});
const sessionQuery = z.strictObject({
  ...pageParams,
  userId: id.optional(),
  deviceId: id.optional(),
  status: z.enum(['open', 'closed']).optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
});
const usageQuery = z.strictObject({ userId: id.optional(), from: day.optional(), to: day.optional() });

/** The operations of this router, for the OpenAPI document (lib/openapi.ts). */
const tag = 'billing (queries)';
export const billingQueryOperations: Operation[] = [
  queryOperation({ path: '/orders', summary: 'List orders', tag, query: orderQuery, response: pageOf(orderView) }),
  queryOperation({ path: '/orders/:id', summary: 'An order', tag, response: orderView }),
  queryOperation({
    path: '/billing/sessions',
    summary: 'List metering sessions (by user, device, status, start time)',
    tag,
    query: sessionQuery,
    response: pageOf(sessionView),
  }),
  queryOperation({ path: '/billing/usage', summary: 'Usage per user and day, with totals', tag, query: usageQuery, response: usageView }),
];

const order = (o: OrderRow): z.infer<typeof orderView> => ({
  id: o.order_id,
  tenantId: o.tenant_id,
  userId: o.user_id,
  planId: o.plan_id,
  planName: o.plan_name,
  amount: { amount: o.amount, currency: o.currency },
  paid: { amount: o.paid_amount, currency: o.currency },
  refunded: { amount: o.refunded_amount, currency: o.currency },
  status: o.status,
  paymentMethod: o.payment_method,
  paymentRef: o.payment_ref,
  cancelReason: o.cancel_reason,
  createdAt: iso(o.created_at),
  paidAt: isoOrNull(o.paid_at),
  cancelledAt: isoOrNull(o.cancelled_at),
  refundedAt: isoOrNull(o.refunded_at),
  user: { username: o.username, email: o.email, status: o.user_status },
  version: o.version,
});
const session = (s: SessionRow): z.infer<typeof sessionView> => ({
  id: s.session_id,
  deviceId: s.device_id,
  tenantId: s.tenant_id,
  userId: s.user_id,
  tier: s.tier,
  rateFenPerMinute: s.rate_fen_per_minute,
  status: s.status,
  startedAt: iso(s.started_at),
  stoppedAt: isoOrNull(s.stopped_at),
  durationSeconds: s.duration_seconds,
  billedMinutes: s.billed_minutes,
  cost: s.cost_fen === null ? null : { amount: s.cost_fen, currency: 'CNY' },
  closeReason: s.close_reason,
  user: { username: s.username, email: s.email, status: s.user_status },
});

/** How the pushed changes of this read model are shown on GET /stream: as the query API shows the rows. */
export const billingPushes = { order: pushView(order), session: pushView(session) };

/** Query API of the billing read model: orders, metering sessions, daily usage. */
export function billingQueryRoutes(deps: QueryDeps): Router {
  const router = new Router();
  const auth = queryAuth(deps);
  const projection = { name: billingProjection.name, topics: billingProjection.topics(deps.topics) };

  router.get(
    '/orders',
    auth,
    listHandler<typeof orderQuery, OrderRow>(deps, projection, { query: orderQuery, list: orderList, view: order }),
  );

  router.get('/orders/:id', auth, async (ctx) => {
    const orderId = pathId(ctx);
    await readAfter(ctx, deps, projection);
    const row = (await scoped(deps.db('orders'), actorOf(ctx), 'orders').where('order_id', orderId).first()) as OrderRow | undefined;
    if (!row) throw notFound('order not found');
    ctx.body = order(row);
  });

  router.get(
    '/billing/sessions',
    auth,
    listHandler<typeof sessionQuery, SessionRow>(deps, projection, { query: sessionQuery, list: sessionList, view: session }),
  );

  router.get('/billing/usage', auth, async (ctx) => {
    const q = queryParams(ctx, usageQuery);
    await readAfter(ctx, deps, projection);
    const query = scoped(deps.db('usage_daily'), actorOf(ctx), 'usage_daily');
    if (q.userId) query.where('user_id', q.userId);
    if (q.from) query.where('day', '>=', q.from);
    if (q.to) query.where('day', '<=', q.to);
    const rows = (await query.orderBy(['user_id', 'day']).limit(10_000)) as Array<{
      user_id: string;
      day: string;
      sessions: number;
      seconds: number;
      cost_fen: number;
    }>;
    const days = rows.map((r) => ({
      userId: r.user_id,
      day: r.day,
      sessions: r.sessions,
      seconds: r.seconds,
      cost: { amount: r.cost_fen, currency: 'CNY' },
    }));
    const totals = rows.reduce(
      (t, r) => ({ sessions: t.sessions + r.sessions, seconds: t.seconds + r.seconds, cost: t.cost + r.cost_fen }),
      { sessions: 0, seconds: 0, cost: 0 },
    );
    ctx.body = {
      days,
      totals: { sessions: totals.sessions, seconds: totals.seconds, cost: { amount: totals.cost, currency: 'CNY' } },
    } satisfies z.infer<typeof usageView>;
  });

  return router;
}
