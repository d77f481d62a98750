// Generated from schemas/order/*.avsc by `npm run schemas:types`. Do not edit.

import type { EventEnvelope } from '../../lib/event-log';

export interface Money {
  /** Integer minor units (fen). */
  readonly amount: number;
  /** ISO 4217 code, e.g. CNY. */
  readonly currency: string;
}

export interface DeviceSpec {
  readonly cpuCores: number;
  readonly memoryMb: number;
  readonly storageGb: number;
  readonly androidVersion: string;
}

/** The order was cancelled (by the user or because it was not paid in time). */
export interface OrderCancelled extends EventEnvelope {
  readonly type: 'order.cancelled';
  readonly userId: string;
  readonly reason: string;
}

/** A plan purchase was opened. */
export interface OrderCreated extends EventEnvelope {
  readonly type: 'order.created';
  readonly userId: string;
  readonly planId: string;
  readonly planName: string;
  /** Price of the plan. */
  readonly amount: Money;
  readonly spec: DeviceSpec;
  readonly tier: string;
  readonly region: string;
}

/** The order was paid. */
export interface OrderPaid extends EventEnvelope {
  readonly type: 'order.paid';
  readonly userId: string;
  /** Amount paid. */
  readonly amount: Money;
  readonly paymentMethod: string;
  readonly paymentRef: null | string;
}

/** Money was given back. */
export interface OrderRefunded extends EventEnvelope {
  readonly type: 'order.refunded';
  readonly userId: string;
  /** Amount refunded; never above the amount paid. */
  readonly amount: Money;
  readonly reason: string;
}

export type OrderEvent = OrderCancelled | OrderCreated | OrderPaid | OrderRefunded;

export type OrderEventType = OrderEvent['type'];

export const orderEventTypes = ['order.cancelled', 'order.created', 'order.paid', 'order.refunded'] as const;

const orderEventTypeSet: ReadonlySet<string> = new Set(orderEventTypes);

/** Whether an event is one of these (a type guard: past it, the compiler knows the event's type and fields). */
export const isOrderEvent = <T extends EventEnvelope>(e: T): e is T & OrderEvent => orderEventTypeSet.has(e.type);
