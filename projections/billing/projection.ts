import type { EventHandler, HandlerMap, ProjectionView, Row } from '../../lib/projection';
import type { DeviceEvent, DeviceStatus } from '../../services/device/events';
import { defineProjection } from '../../services/events';
import type { OrderEvent } from '../../services/order/events';
import { userCopyHandlers, userCopyTable, userFields, type UserCopyRow } from '../common/user-copy';
import { meter, ratePerMinute, usageDay } from './rates';

export interface OrderRow extends Row {
  order_id: string;
  tenant_id: string | null;
  user_id: string;
  plan_id: string;
  plan_name: string;
  amount: number;
  currency: string;
  paid_amount: number;
  refunded_amount: number;
  status: 'created' | 'paid' | 'cancelled' | 'partially_refunded' | 'refunded';
  payment_method: string | null;
  payment_ref: string | null;
  cancel_reason: string | null;
  created_at: Date;
  paid_at: Date | null;
  cancelled_at: Date | null;
  refunded_at: Date | null;
  version: number;
  username: string | null;
  email: string | null;
  user_status: string | null;
}

export interface BillingDeviceRow extends Row {
  device_id: string;
  tenant_id: string | null;
  user_id: string;
  tier: string;
  status: DeviceStatus;
  open_session_id: string | null;
  open_session_started_at: Date | null;
  open_session_rate: number | null;
  version: number;
}

export interface SessionRow extends Row {
  session_id: string;
  device_id: string;
  tenant_id: string | null;
  user_id: string;
  tier: string;
  rate_fen_per_minute: number;
  status: 'open' | 'closed';
  started_at: Date;
  stopped_at: Date | null;
  duration_seconds: number | null;
  billed_minutes: number | null;
  cost_fen: number | null;
  close_reason: 'stopped' | 'deleted' | null;
  username: string | null;
  email: string | null;
  user_status: string | null;
}

/** Orders and sessions show the user's name, email and status (not the phone). */
const billingUserFields = (u: UserCopyRow | undefined) => {
  const { username, email, user_status } = userFields(u);
  return { username, email, user_status };
};
const BILLING_DEPENDENTS = [
  { table: 'orders', fields: ['username', 'email', 'user_status'] },
  { table: 'metering_sessions', fields: ['username', 'email', 'user_status'] },
] as const;

/** A change to an order the projection knows, applied once (an event at or below the row's version is old news). */
const orderChange = <E extends OrderEvent>(change: (order: OrderRow, e: E) => Partial<OrderRow>): EventHandler<E> => ({
  needs: (e) => [['orders', e.aggregateId]],
  apply(view, e) {
    const order = view.get<OrderRow>('orders', e.aggregateId);
    if (!order || e.aggregateVersion <= order.version) return;
    view.put('orders', { ...order, ...change(order, e), version: e.aggregateVersion });
  },
});

const ORDER_HANDLERS: HandlerMap<OrderEvent> = {
  'order.created': {
    needs: (e) => [
      ['orders', e.aggregateId],
      ['billing_users', e.userId],
    ],
    apply: (view, e) =>
      view.put('orders', {
        order_id: e.aggregateId,
        tenant_id: e.tenantId,
        user_id: e.userId,
        plan_id: e.planId,
        plan_name: e.planName,
        amount: e.amount.amount,
        currency: e.amount.currency,
        paid_amount: 0,
        refunded_amount: 0,
        status: 'created',
        payment_method: null,
        payment_ref: null,
        cancel_reason: null,
        created_at: new Date(e.occurredAt),
        paid_at: null,
        cancelled_at: null,
        refunded_at: null,
        version: e.aggregateVersion,
        ...billingUserFields(view.get<UserCopyRow>('billing_users', e.userId)),
      } satisfies OrderRow),
  },
  'order.paid': orderChange((_, e) => ({
    status: 'paid',
    paid_amount: e.amount.amount,
    paid_at: new Date(e.occurredAt),
    payment_method: e.paymentMethod,
    payment_ref: e.paymentRef,
  })),
  'order.cancelled': orderChange((_, e) => ({ status: 'cancelled', cancelled_at: new Date(e.occurredAt), cancel_reason: e.reason })),
  'order.refunded': orderChange((order, e) => {
    const refunded = order.refunded_amount + e.amount.amount;
    return {
      refunded_amount: refunded,
      refunded_at: new Date(e.occurredAt),
      status: refunded >= order.paid_amount ? 'refunded' : 'partially_refunded',
    };
  }),
};

/** Closes the device's open session at `at`: the session row, and the day's usage of its user. */
function closeSession(view: ProjectionView, device: BillingDeviceRow, e: DeviceEvent, reason: 'stopped' | 'deleted'): void {
  const startedAt = device.open_session_started_at!.getTime();
  const m = meter(startedAt, e.occurredAt, device.open_session_rate!);
  const session: SessionRow = {
    session_id: device.open_session_id!,
    device_id: device.device_id,
    tenant_id: device.tenant_id,
    user_id: device.user_id,
    tier: device.tier,
    rate_fen_per_minute: device.open_session_rate!,
    status: 'closed',
    started_at: new Date(startedAt),
    stopped_at: new Date(e.occurredAt),
    duration_seconds: m.durationSeconds,
    billed_minutes: m.billedMinutes,
    cost_fen: m.costFen,
    close_reason: reason,
    ...billingUserFields(view.get<UserCopyRow>('billing_users', device.user_id)),
  };
  view.put('metering_sessions', session);
  const day = usageDay(startedAt);
  view.add(
    'usage_daily',
    {
      usage_id: `${device.user_id}/${day}`,
      tenant_id: device.tenant_id,
      user_id: device.user_id,
      day,
      sessions: 0,
      seconds: 0,
      cost_fen: 0,
    },
    { sessions: 1, seconds: m.durationSeconds, cost_fen: m.costFen },
  );
}

function anomaly(view: ProjectionView, e: DeviceEvent, device: BillingDeviceRow, kind: string, detail: string): void {
  view.put('billing_anomalies', {
    anomaly_id: e.eventId,
    kind,
    device_id: e.aggregateId,
    tenant_id: e.tenantId,
    user_id: device.user_id,
    event_type: e.type,
    occurred_at: new Date(e.occurredAt),
    detail,
  });
}

const NO_SESSION = { open_session_id: null, open_session_started_at: null, open_session_rate: null } as const;

/**
 * A change to a device the projection knows, applied once; `change` may open or close a metering session and
 * returns the device's new fields. Session events load the device's user for the session's redundant fields.
 */
const deviceChange = <E extends DeviceEvent>(
  change: (view: ProjectionView, device: BillingDeviceRow, e: E) => Partial<BillingDeviceRow>,
  opts: { session: boolean },
): EventHandler<E> => ({
  needs: (e) =>
    opts.session
      ? [
          ['billing_devices', e.aggregateId],
          ['billing_users', e.userId],
        ]
      : [['billing_devices', e.aggregateId]],
  apply(view, e) {
    const device = view.get<BillingDeviceRow>('billing_devices', e.aggregateId);
    if (!device || e.aggregateVersion <= device.version) return;
    view.put('billing_devices', { ...device, ...change(view, device, e), version: e.aggregateVersion });
  },
});

const DEVICE_HANDLERS: HandlerMap<DeviceEvent> = {
  'device.created': {
    needs: (e) => [['billing_devices', e.aggregateId]],
    apply: (view, e) =>
      view.put('billing_devices', {
        device_id: e.aggregateId,
        tenant_id: e.tenantId,
        user_id: e.userId,
        tier: e.tier,
        status: 'created',
        ...NO_SESSION,
        version: e.aggregateVersion,
      } satisfies BillingDeviceRow),
  },
  'device.started': deviceChange(
    (view, device, e) => {
      if (device.open_session_id) {
        anomaly(view, e, device, 'start_while_running', `a session (${device.open_session_id}) is already open; this start opens none`);
        return {};
      }
      const rate = ratePerMinute(device.tier);
      view.put('metering_sessions', {
        session_id: e.eventId,
        device_id: device.device_id,
        tenant_id: device.tenant_id,
        user_id: device.user_id,
        tier: device.tier,
        rate_fen_per_minute: rate,
        status: 'open',
        started_at: new Date(e.occurredAt),
        stopped_at: null,
        duration_seconds: null,
        billed_minutes: null,
        cost_fen: null,
        close_reason: null,
        ...billingUserFields(view.get<UserCopyRow>('billing_users', device.user_id)),
      } satisfies SessionRow);
      return { status: 'running', open_session_id: e.eventId, open_session_started_at: new Date(e.occurredAt), open_session_rate: rate };
    },
    { session: true },
  ),
  'device.stopped': deviceChange(
    (view, device, e) => {
      if (!device.open_session_id) {
        anomaly(view, e, device, 'stop_without_start', 'no open session to close');
        return { status: 'stopped' };
      }
      closeSession(view, device, e, 'stopped');
      return { status: 'stopped', ...NO_SESSION };
    },
    { session: true },
  ),
  'device.deleted': deviceChange(
    (view, device, e) => {
      if (device.open_session_id) closeSession(view, device, e, 'deleted');
      return { status: 'deleted', ...NO_SESSION };
    },
    { session: true },
  ),
  'device.updated': deviceChange(() => ({}), { session: false }),
};

/** Orders, metering sessions and daily usage, with redundant user fields. Reads the user, device and order topics. */
export const billingProjection = defineProjection({
  name: 'billing',
  tables: {
    billing_users: userCopyTable,
    orders: { key: 'order_id', push: 'order' },
    billing_devices: { key: 'device_id' },
    metering_sessions: { key: 'session_id', push: 'session' },
    usage_daily: { key: 'usage_id', counters: ['sessions', 'seconds', 'cost_fen'] },
    billing_anomalies: { key: 'anomaly_id' },
  },
  on: {
    user: userCopyHandlers('billing_users', BILLING_DEPENDENTS),
    order: ORDER_HANDLERS,
    device: DEVICE_HANDLERS,
  },
});
