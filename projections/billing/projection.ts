import { assertNever } from '../../lib/decider';
import { applyUserCopy, userCopyTable, userFields, type UserCopyRow } from '../common/user-copy';
import type { Projection, ProjectionView, Row } from '../../lib/projection';
import { isDeviceEvent, type DeviceEvent, type DeviceStatus } from '../../services/device/events';
import { isOrderEvent, type OrderEvent } from '../../services/order/events';
import { isUserEvent } from '../../services/user/events';
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

function applyOrder(view: ProjectionView, e: OrderEvent): void {
  const at = new Date(e.occurredAt);
  if (e.type === 'order.created') {
    const row: OrderRow = {
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
      created_at: at,
      paid_at: null,
      cancelled_at: null,
      refunded_at: null,
      version: e.aggregateVersion,
      ...billingUserFields(view.get<UserCopyRow>('billing_users', e.userId)),
    };
    return view.put('orders', row);
  }
  const order = view.get<OrderRow>('orders', e.aggregateId);
  if (!order || e.aggregateVersion <= order.version) return;
  const next = { ...order, version: e.aggregateVersion };
  switch (e.type) {
    case 'order.paid':
      return view.put('orders', {
        ...next,
        status: 'paid',
        paid_amount: e.amount.amount,
        paid_at: at,
        payment_method: e.paymentMethod,
        payment_ref: e.paymentRef,
      });
    case 'order.cancelled':
      return view.put('orders', { ...next, status: 'cancelled', cancelled_at: at, cancel_reason: e.reason });
    case 'order.refunded': {
      const refunded = order.refunded_amount + e.amount.amount;
      return view.put('orders', {
        ...next,
        refunded_amount: refunded,
        refunded_at: at,
        status: refunded >= order.paid_amount ? 'refunded' : 'partially_refunded',
      });
    }
    default:
      return assertNever(e);
  }
}

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

function applyDevice(view: ProjectionView, e: DeviceEvent): void {
  if (e.type === 'device.created') {
    const row: BillingDeviceRow = {
      device_id: e.aggregateId,
      tenant_id: e.tenantId,
      user_id: e.userId,
      tier: e.tier,
      status: 'created',
      open_session_id: null,
      open_session_started_at: null,
      open_session_rate: null,
      version: e.aggregateVersion,
    };
    return view.put('billing_devices', row);
  }
  const device = view.get<BillingDeviceRow>('billing_devices', e.aggregateId);
  if (!device || e.aggregateVersion <= device.version) return;
  let next: BillingDeviceRow = { ...device, version: e.aggregateVersion };
  switch (e.type) {
    case 'device.started': {
      if (device.open_session_id) {
        anomaly(view, e, device, 'start_while_running', `a session (${device.open_session_id}) is already open; this start opens none`);
        break;
      }
      const rate = ratePerMinute(device.tier);
      next = {
        ...next,
        status: 'running',
        open_session_id: e.eventId,
        open_session_started_at: new Date(e.occurredAt),
        open_session_rate: rate,
      };
      const session: SessionRow = {
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
      };
      view.put('metering_sessions', session);
      break;
    }
    case 'device.stopped':
      if (!device.open_session_id) {
        anomaly(view, e, device, 'stop_without_start', 'no open session to close');
        next = { ...next, status: 'stopped' };
        break;
      }
      closeSession(view, device, e, 'stopped');
      next = { ...next, status: 'stopped', open_session_id: null, open_session_started_at: null, open_session_rate: null };
      break;
    case 'device.deleted':
      if (device.open_session_id) closeSession(view, device, e, 'deleted');
      next = { ...next, status: 'deleted', open_session_id: null, open_session_started_at: null, open_session_rate: null };
      break;
    case 'device.updated':
      break;
    default:
      return assertNever(e);
  }
  view.put('billing_devices', next);
}

/** Orders, metering sessions and daily usage, with redundant user fields. Reads the user, device and order topics. */
export const billingProjection: Projection = {
  name: 'billing',
  topics: (t) => [t.user.events, t.device.events, t.order.events],
  tables: {
    billing_users: userCopyTable,
    orders: { key: 'order_id' },
    billing_devices: { key: 'device_id' },
    metering_sessions: { key: 'session_id' },
    usage_daily: { key: 'usage_id', counters: ['sessions', 'seconds', 'cost_fen'] },
    billing_anomalies: { key: 'anomaly_id' },
  },
  needs(e) {
    if (isUserEvent(e)) return [['billing_users', e.aggregateId]];
    if (isOrderEvent(e)) {
      return e.type === 'order.created'
        ? [
            ['orders', e.aggregateId],
            ['billing_users', e.userId],
          ]
        : [['orders', e.aggregateId]];
    }
    if (isDeviceEvent(e)) {
      if (e.type === 'device.started' || e.type === 'device.stopped' || e.type === 'device.deleted') {
        return [
          ['billing_devices', e.aggregateId],
          ['billing_users', e.userId],
        ];
      }
      return [['billing_devices', e.aggregateId]];
    }
    return [];
  },
  apply(view, e) {
    if (isUserEvent(e)) applyUserCopy(view, 'billing_users', e, BILLING_DEPENDENTS);
    else if (isOrderEvent(e)) applyOrder(view, e);
    else if (isDeviceEvent(e)) applyDevice(view, e);
  },
};
