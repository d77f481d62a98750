import { deterministicUuid } from '../../lib/decider';
import type { Projection, ProjectionView, Row } from '../../lib/projection';
import { ACTIONS, action, actionId, actionsTable, cancelAction } from '../../lib/saga';
import { isDeviceEvent, type DeviceEvent } from '../../services/device/events';
import { isOrderEvent, type OrderEvent } from '../../services/order/events';
import { isUserEvent, type UserEvent } from '../../services/user/events';

export const PURCHASE_PLAN = 'purchase-plan';

interface PurchaseUserRow extends Row {
  user_id: string;
  status: string | null;
  active_devices: number;
  version: number;
}

interface PurchaseOrderRow extends Row {
  order_id: string;
  user_id: string;
  tenant_id: string | null;
  plan_name: string;
  spec: Record<string, unknown>;
  tier: string;
  region: string;
  status: 'awaiting_payment' | 'paid' | 'allocating' | 'refused' | 'cancelled' | 'refunded';
  deadline_at: Date;
  device_id: string | null;
  refusal: string | null;
  version: number;
}

/** The device a paid order allocates: one per order, whoever sends the command and however often. */
export const deviceIdForOrder = (orderId: string) => deterministicUuid(`device-for-order/${orderId}`);
const timeoutId = (orderId: string) => actionId(PURCHASE_PLAN, orderId, 'payment-timeout');

/** Why an allocation is refused, or null when the user may have the device. */
function refusal(user: PurchaseUserRow | undefined, quota: number): string | null {
  if (user?.status === 'deleted') return 'user is deleted';
  if (user?.status === 'suspended' || user?.status === 'banned') return `user is ${user.status}`;
  if ((user?.active_devices ?? 0) >= quota) return `device quota of ${quota} reached`;
  return null;
}

/**
 * The purchase-plan saga. order.created starts a payment deadline; still unpaid at the deadline, the order is
 * cancelled ("payment timeout"). order.paid allocates a device to the user with the plan's spec (device.created
 * carries the order id); an allocation the saga refuses (user deleted, suspended or banned; device quota
 * reached) or the device side refuses is refunded in full with the reason. Its state, and its deadlines, are
 * rows in PostgreSQL: they survive every restart.
 */
export function purchasePlanSaga(opts: { paymentTimeoutMs: number; deviceQuota: number }): Projection {
  const put = (view: ProjectionView, table: string, row: Row) => view.put(table, row);

  function onUser(view: ProjectionView, e: UserEvent): void {
    const u = view.get<PurchaseUserRow>('purchase_users', e.aggregateId)!;
    if (e.aggregateVersion <= u.version) return;
    const status =
      e.type === 'user.created' || e.type === 'user.status.changed' ? e.status : e.type === 'user.deleted' ? 'deleted' : u.status;
    put(view, 'purchase_users', { ...u, status, version: e.aggregateVersion });
  }

  function onOrder(view: ProjectionView, e: OrderEvent): void {
    if (e.type === 'order.created') {
      const deadline = e.occurredAt + opts.paymentTimeoutMs;
      put(view, 'purchase_orders', {
        order_id: e.aggregateId,
        user_id: e.userId,
        tenant_id: e.tenantId,
        plan_name: e.planName,
        spec: { ...e.spec },
        tier: e.tier,
        region: e.region,
        status: 'awaiting_payment',
        deadline_at: new Date(deadline),
        device_id: null,
        refusal: null,
        version: e.aggregateVersion,
      } satisfies PurchaseOrderRow);
      put(
        view,
        ACTIONS,
        action(PURCHASE_PLAN, e, 'payment-timeout', {
          key: e.aggregateId,
          aggregate: 'order',
          aggregateId: e.aggregateId,
          type: 'CancelOrder',
          payload: { reason: 'payment timeout' },
          dueAt: deadline,
        }),
      );
      return;
    }
    const order = view.get<PurchaseOrderRow>('purchase_orders', e.aggregateId);
    if (!order || e.aggregateVersion <= order.version) return;
    switch (e.type) {
      case 'order.paid': {
        cancelAction(view, timeoutId(order.order_id), 'paid in time');
        const user = view.get<PurchaseUserRow>('purchase_users', order.user_id)!;
        const why = refusal(user, opts.deviceQuota);
        if (why) {
          put(view, 'purchase_orders', { ...order, status: 'refused', refusal: why, version: e.aggregateVersion });
          put(
            view,
            ACTIONS,
            action(PURCHASE_PLAN, e, 'refund', {
              aggregate: 'order',
              aggregateId: order.order_id,
              type: 'RefundOrder',
              payload: { reason: `device allocation refused: ${why}` },
            }),
          );
          return;
        }
        const deviceId = deviceIdForOrder(order.order_id);
        put(view, 'purchase_users', { ...user, active_devices: user.active_devices + 1 });
        put(view, 'purchase_orders', { ...order, status: 'allocating', device_id: deviceId, version: e.aggregateVersion });
        put(
          view,
          ACTIONS,
          action(PURCHASE_PLAN, e, 'allocate', {
            aggregate: 'device',
            aggregateId: deviceId,
            type: 'CreateDevice',
            payload: {
              userId: order.user_id,
              name: order.plan_name,
              spec: order.spec,
              tier: order.tier,
              region: order.region,
              orderId: order.order_id,
            },
            compensation: {
              aggregate: 'order',
              aggregateId: order.order_id,
              type: 'RefundOrder',
              payload: { reason: 'device allocation refused by the device service' },
            },
          }),
        );
        return;
      }
      case 'order.cancelled':
        cancelAction(view, timeoutId(order.order_id), 'cancelled');
        return put(view, 'purchase_orders', { ...order, status: 'cancelled', version: e.aggregateVersion });
      case 'order.refunded':
        return put(view, 'purchase_orders', { ...order, status: 'refunded', version: e.aggregateVersion });
    }
  }

  function onDevice(view: ProjectionView, e: DeviceEvent): void {
    // Devices the saga allocated were counted when it allocated them.
    if (e.type === 'device.created' && e.orderId === null) {
      const u = view.get<PurchaseUserRow>('purchase_users', e.userId)!;
      put(view, 'purchase_users', { ...u, active_devices: u.active_devices + 1 });
    }
    if (e.type === 'device.deleted') {
      const u = view.get<PurchaseUserRow>('purchase_users', e.userId)!;
      put(view, 'purchase_users', { ...u, active_devices: Math.max(0, u.active_devices - 1) });
    }
  }

  return {
    name: PURCHASE_PLAN,
    topics: (t) => [t.user.events, t.order.events, t.device.events],
    tables: {
      purchase_users: { key: 'user_id', source: { placeholder: (id) => ({ user_id: id, status: null, active_devices: 0, version: 0 }) } },
      purchase_orders: { key: 'order_id' },
      [ACTIONS]: actionsTable,
    },
    needs(e) {
      if (isUserEvent(e)) return [['purchase_users', e.aggregateId]];
      if (isDeviceEvent(e)) return e.type === 'device.created' || e.type === 'device.deleted' ? [['purchase_users', e.userId]] : [];
      if (!isOrderEvent(e)) return [];
      if (e.type === 'order.paid') {
        // The order's user is in the order row; the saga loads it by the id the event carries.
        return [
          ['purchase_orders', e.aggregateId],
          ['purchase_users', e.userId],
          [ACTIONS, timeoutId(e.aggregateId)],
        ];
      }
      if (e.type === 'order.cancelled')
        return [
          ['purchase_orders', e.aggregateId],
          [ACTIONS, timeoutId(e.aggregateId)],
        ];
      return [['purchase_orders', e.aggregateId]];
    },
    apply(view, e) {
      if (isUserEvent(e)) onUser(view, e);
      else if (isOrderEvent(e)) onOrder(view, e);
      else if (isDeviceEvent(e)) onDevice(view, e);
    },
  };
}
