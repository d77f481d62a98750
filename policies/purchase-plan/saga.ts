import { deterministicUuid } from '../../lib/decider';
import { IGNORE, type EventHandler, type Needs, type Projection, type ProjectionView, type Row } from '../../lib/projection';
import { ACTIONS, action, actionId, actionsTable, cancelAction } from '../../lib/saga';
import type { DeviceEvent } from '../../services/device/events';
import { defineProjection } from '../../services/events';
import type { OrderEvent, OrderPaid } from '../../services/order/events';
import type { UserEvent } from '../../services/user/events';

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
  /** A change to an order the saga follows, applied once (an event at or below the row's version is old news). */
  const orderStep = <E extends OrderEvent>(
    needs: (e: E) => Needs,
    step: (view: ProjectionView, order: PurchaseOrderRow, e: E) => void,
  ): EventHandler<E> => ({
    needs: (e) => [['purchase_orders', e.aggregateId], ...needs(e)],
    apply(view, e) {
      const order = view.get<PurchaseOrderRow>('purchase_orders', e.aggregateId);
      if (!order || e.aggregateVersion <= order.version) return;
      step(view, order, e);
    },
  });

  /** The user's status as the saga knows it after the event, applied once. */
  const userStatus = <E extends UserEvent>(status: (u: PurchaseUserRow, e: E) => string | null): EventHandler<E> => ({
    needs: (e) => [['purchase_users', e.aggregateId]],
    apply(view, e) {
      const u = view.get<PurchaseUserRow>('purchase_users', e.aggregateId)!;
      if (e.aggregateVersion <= u.version) return;
      view.put('purchase_users', { ...u, status: status(u, e), version: e.aggregateVersion });
    },
  });

  /** Devices the saga did not allocate count against the quota as they appear and disappear. */
  const activeDevices = <E extends DeviceEvent>(delta: (e: E) => number): EventHandler<E> => ({
    needs: (e) => [['purchase_users', e.userId]],
    apply(view, e) {
      const d = delta(e);
      if (d === 0) return;
      const u = view.get<PurchaseUserRow>('purchase_users', e.userId)!;
      view.put('purchase_users', { ...u, active_devices: Math.max(0, u.active_devices + d) });
    },
  });

  function allocate(view: ProjectionView, order: PurchaseOrderRow, e: OrderPaid): void {
    cancelAction(view, timeoutId(order.order_id), 'paid in time');
    const user = view.get<PurchaseUserRow>('purchase_users', order.user_id)!;
    const why = refusal(user, opts.deviceQuota);
    if (why) {
      view.put('purchase_orders', { ...order, status: 'refused', refusal: why, version: e.aggregateVersion });
      view.put(
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
    view.put('purchase_users', { ...user, active_devices: user.active_devices + 1 });
    view.put('purchase_orders', { ...order, status: 'allocating', device_id: deviceId, version: e.aggregateVersion });
    view.put(
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
  }

  return defineProjection({
    name: PURCHASE_PLAN,
    tables: {
      purchase_users: { key: 'user_id', source: { placeholder: (id) => ({ user_id: id, status: null, active_devices: 0, version: 0 }) } },
      purchase_orders: { key: 'order_id' },
      [ACTIONS]: actionsTable,
    },
    on: {
      user: {
        'user.created': userStatus((_, e) => e.status),
        'user.status.changed': userStatus((_, e) => e.status),
        'user.deleted': userStatus(() => 'deleted'),
        'user.updated': userStatus((u) => u.status),
        'user.erased': userStatus((u) => u.status),
      },
      order: {
        'order.created': {
          needs: (e) => [['purchase_orders', e.aggregateId]],
          apply(view, e) {
            const deadline = e.occurredAt + opts.paymentTimeoutMs;
            view.put('purchase_orders', {
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
            view.put(
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
          },
        },
        // The order's user is in the order row; the saga loads it by the id the event carries.
        'order.paid': orderStep(
          (e) => [
            ['purchase_users', e.userId],
            [ACTIONS, timeoutId(e.aggregateId)],
          ],
          allocate,
        ),
        'order.cancelled': orderStep(
          (e) => [[ACTIONS, timeoutId(e.aggregateId)]],
          (view, order, e) => {
            cancelAction(view, timeoutId(order.order_id), 'cancelled');
            view.put('purchase_orders', { ...order, status: 'cancelled', version: e.aggregateVersion });
          },
        ),
        'order.refunded': orderStep(
          () => [],
          (view, order, e) => view.put('purchase_orders', { ...order, status: 'refunded', version: e.aggregateVersion }),
        ),
      },
      device: {
        // Devices the saga allocated were counted when it allocated them.
        'device.created': activeDevices((e) => (e.orderId === null ? 1 : 0)),
        'device.deleted': activeDevices(() => -1),
        'device.started': IGNORE,
        'device.stopped': IGNORE,
        'device.updated': IGNORE,
      },
    },
  });
}
