import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { tenantAdminOnly } from '../../lib/auth';
import { commandAuth, commandMeta, newAggregateId, parse, pathId, runCommand, type CheckUser, type CommandDeps } from '../../lib/http';
import { commandOperation, type Operation } from '../../lib/openapi';
import type { AggregateTopics } from '../../lib/topics';
import { fields } from '../../lib/validation';

const createBody = z.strictObject({
  userId: fields.userId,
  planId: fields.planId,
  planName: fields.planName,
  amount: fields.amount,
  spec: fields.spec,
  tier: fields.tier,
  region: fields.region,
});
const payBody = z.strictObject({
  amount: fields.amount,
  paymentMethod: fields.paymentMethod,
  paymentRef: fields.paymentRef.nullable().optional(),
});
const cancelBody = z.strictObject({ reason: fields.reason });
const refundBody = z.strictObject({ amount: fields.amount.optional(), reason: fields.reason });

/** The operations of this router, for the OpenAPI document (lib/openapi.ts). */
const tag = 'orders';
export const orderOperations: Operation[] = [
  commandOperation({
    method: 'post',
    path: '/orders',
    summary: 'Open a plan purchase (a user: their own)',
    tag,
    access: 'user',
    body: createBody,
    created: true,
  }),
  commandOperation({
    method: 'post',
    path: '/orders/:id/pay',
    summary: 'Pay an order (the exact amount)',
    tag,
    access: 'user',
    body: payBody,
  }),
  commandOperation({
    method: 'post',
    path: '/orders/:id/cancel',
    summary: 'Cancel an unpaid order',
    tag,
    access: 'user',
    body: cancelBody,
  }),
  commandOperation({
    method: 'post',
    path: '/orders/:id/refund',
    summary: 'Refund a paid order (all that is left, or an amount)',
    tag,
    access: 'tenant_admin',
    body: refundBody,
  }),
];

/** The order command API: open a plan purchase, pay it, cancel it (a user their own orders), refund it (a tenant admin). */
export function orderRoutes(deps: CommandDeps & { topics: AggregateTopics; checkUser: CheckUser }): Router {
  const router = new Router({ prefix: '/orders' });
  const body = (ctx: Context) => ctx.request.body ?? {};
  const auth = commandAuth(deps);

  router.post('/', auth, async (ctx) => {
    const input = parse(createBody, body(ctx));
    await deps.checkUser(ctx, input.userId);
    const orderId = newAggregateId(ctx, 'create-order');
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, orderId, 'create-order'),
      type: 'CreateOrder',
      payload: input,
      created: true,
    });
  });

  router.post('/:id/pay', auth, async (ctx) => {
    const input = parse(payBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'pay-order'),
      type: 'PayOrder',
      payload: { ...input, paymentRef: input.paymentRef ?? null },
    });
  });

  router.post('/:id/cancel', auth, async (ctx) => {
    const input = parse(cancelBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'cancel-order'),
      type: 'CancelOrder',
      payload: input,
    });
  });

  router.post('/:id/refund', auth, tenantAdminOnly, async (ctx) => {
    const input = parse(refundBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'refund-order'),
      type: 'RefundOrder',
      payload: input,
    });
  });

  return router;
}
