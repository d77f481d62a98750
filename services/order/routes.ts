import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { commandMeta, newAggregateId, parse, pathId, runCommand, type CommandDeps } from '../../lib/http';
import type { AggregateTopics } from '../../lib/topics';
import { deviceSpec, id, money, region, text, tier } from '../../lib/validation';

const createBody = z.strictObject({ userId: id, planId: id, planName: text(100), amount: money, spec: deviceSpec, tier, region });
const payBody = z.strictObject({
  amount: money,
  paymentMethod: z.enum(['alipay', 'wechat', 'card', 'balance']),
  paymentRef: text(128).nullable().optional(),
});
const cancelBody = z.strictObject({ reason: text(500) });
const refundBody = z.strictObject({ amount: money.optional(), reason: text(500) });

/** The order command API: open a plan purchase, pay it, cancel it, refund it. */
export function orderRoutes(deps: CommandDeps & { topics: AggregateTopics }): Router {
  const router = new Router({ prefix: '/orders' });
  const body = (ctx: Context) => ctx.request.body ?? {};

  router.post('/', async (ctx) => {
    const input = parse(createBody, body(ctx));
    const orderId = newAggregateId(ctx, 'create-order');
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, orderId, 'create-order'),
      type: 'CreateOrder',
      payload: input,
      created: true,
    });
  });

  router.post('/:id/pay', async (ctx) => {
    const input = parse(payBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'pay-order'),
      type: 'PayOrder',
      payload: { ...input, paymentRef: input.paymentRef ?? null },
    });
  });

  router.post('/:id/cancel', async (ctx) => {
    const input = parse(cancelBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'cancel-order'),
      type: 'CancelOrder',
      payload: input,
    });
  });

  router.post('/:id/refund', async (ctx) => {
    const input = parse(refundBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'refund-order'),
      type: 'RefundOrder',
      payload: input,
    });
  });

  return router;
}
