import { assertNever, type Decider, type Draft } from '../../lib/decider';
import { conflict, notFound, ruleViolated } from '../../lib/errors';
import type { DeviceSpec, Money, OrderEvent, OrderStatus } from './events';

export type OrderCommand =
  | {
      readonly type: 'CreateOrder';
      readonly userId: string;
      readonly planId: string;
      readonly planName: string;
      readonly amount: Money;
      readonly spec: DeviceSpec;
      readonly tier: string;
      readonly region: string;
    }
  | { readonly type: 'PayOrder'; readonly amount: Money; readonly paymentMethod: string; readonly paymentRef: string | null }
  | { readonly type: 'CancelOrder'; readonly reason: string }
  /** Without an amount, refunds whatever of the payment is not refunded yet. */
  | { readonly type: 'RefundOrder'; readonly amount?: Money; readonly reason: string };

export type OrderState =
  | { readonly status: 'none' }
  | {
      readonly status: OrderStatus;
      readonly userId: string;
      readonly amount: Money;
      /** Minor units paid and refunded so far. */
      readonly paid: number;
      readonly refunded: number;
    };

const yuan = (m: Money) => `${(m.amount / 100).toFixed(2)} ${m.currency}`;

function decide(c: OrderCommand, state: OrderState): Draft<OrderEvent>[] {
  if (c.type === 'CreateOrder') {
    if (state.status !== 'none') throw conflict('order already exists');
    if (!Number.isSafeInteger(c.amount.amount) || c.amount.amount <= 0)
      throw ruleViolated('an order amount is a positive whole number of minor units');
    return [
      {
        type: 'order.created',
        userId: c.userId,
        planId: c.planId,
        planName: c.planName,
        amount: c.amount,
        spec: c.spec,
        tier: c.tier,
        region: c.region,
      },
    ];
  }
  if (state.status === 'none') throw notFound('order not found');
  switch (c.type) {
    case 'PayOrder': {
      if (state.status === 'cancelled') throw conflict('order is cancelled');
      if (state.status !== 'created') throw conflict('order is already paid');
      if (c.amount.currency !== state.amount.currency || c.amount.amount !== state.amount.amount) {
        throw ruleViolated(`payment of ${yuan(c.amount)} does not match the order amount ${yuan(state.amount)}`, {
          orderAmount: state.amount,
        });
      }
      return [{ type: 'order.paid', userId: state.userId, amount: c.amount, paymentMethod: c.paymentMethod, paymentRef: c.paymentRef }];
    }
    case 'CancelOrder': {
      if (state.status === 'cancelled') throw conflict('order is already cancelled');
      if (state.status !== 'created') throw conflict(`a ${state.status} order cannot be cancelled; refund it instead`);
      return [{ type: 'order.cancelled', userId: state.userId, reason: c.reason }];
    }
    case 'RefundOrder': {
      if (state.status === 'created' || state.status === 'cancelled')
        throw conflict(`an order that is ${state.status} has no payment to refund`);
      const left = state.paid - state.refunded;
      if (left === 0) throw conflict('order is already fully refunded');
      const amount = c.amount ?? { amount: left, currency: state.amount.currency };
      if (amount.currency !== state.amount.currency)
        throw ruleViolated(`refund currency ${amount.currency} is not the order's ${state.amount.currency}`);
      if (!Number.isSafeInteger(amount.amount) || amount.amount <= 0)
        throw ruleViolated('a refund is a positive whole number of minor units');
      if (amount.amount > left) {
        throw ruleViolated(`refund of ${yuan(amount)} is above the ${yuan({ amount: left, currency: amount.currency })} left to refund`, {
          refundable: { amount: left, currency: amount.currency },
        });
      }
      return [{ type: 'order.refunded', userId: state.userId, amount, reason: c.reason }];
    }
    default:
      return assertNever(c);
  }
}

function evolve(state: OrderState, e: OrderEvent): OrderState {
  if (e.type === 'order.created') return { status: 'created', userId: e.userId, amount: e.amount, paid: 0, refunded: 0 };
  if (state.status === 'none') return state;
  switch (e.type) {
    case 'order.paid':
      return { ...state, status: 'paid', paid: e.amount.amount };
    case 'order.cancelled':
      return { ...state, status: 'cancelled' };
    case 'order.refunded': {
      const refunded = state.refunded + e.amount.amount;
      return { ...state, refunded, status: refunded >= state.paid ? 'refunded' : state.status };
    }
    default:
      return assertNever(e);
  }
}

export const orderDecider: Decider<OrderCommand, OrderEvent, OrderState> = {
  initialState: { status: 'none' },
  commands: { CreateOrder: true, PayOrder: true, CancelOrder: true, RefundOrder: true },
  decide,
  evolve,
};

/** Whose order it is: a `user` may command only their own (checked by the writer, lib/command-processor.ts). */
export const orderOwner = (state: OrderState): string | null => (state.status === 'none' ? null : state.userId);
