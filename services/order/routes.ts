import { z } from 'zod';
import { commandRow, type CommandTable } from '../../lib/command-table';
import { fields } from '../../lib/validation';
import type { OrderCommand } from './decider';

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

const row = commandRow<OrderCommand>();

/** The order command API: open a plan purchase, pay it, cancel it (a user their own orders), refund it (a tenant admin). */
export const orderCommands: CommandTable<OrderCommand> = {
  prefix: '/orders',
  tag: 'orders',
  topics: (t) => t.order,
  routes: [
    row({
      method: 'post',
      path: '',
      summary: 'Open a plan purchase (a user: their own)',
      access: 'user',
      body: createBody,
      name: 'create-order',
      type: 'CreateOrder',
      namesUser: (b) => b.userId,
      payload: (b) => b,
      created: true,
    }),
    row({
      method: 'post',
      path: '/:id/pay',
      summary: 'Pay an order (the exact amount)',
      access: 'user',
      body: payBody,
      name: 'pay-order',
      type: 'PayOrder',
      payload: (b) => ({ ...b, paymentRef: b.paymentRef ?? null }),
    }),
    row({
      method: 'post',
      path: '/:id/cancel',
      summary: 'Cancel an unpaid order',
      access: 'user',
      body: cancelBody,
      name: 'cancel-order',
      type: 'CancelOrder',
      payload: (b) => b,
    }),
    row({
      method: 'post',
      path: '/:id/refund',
      summary: 'Refund a paid order (all that is left, or an amount)',
      access: 'tenant_admin',
      body: refundBody,
      name: 'refund-order',
      type: 'RefundOrder',
      payload: (b) => b,
    }),
  ],
};
