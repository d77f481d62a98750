import type { Knex } from 'knex';
import type { EventHandler, ProjectionView, Row } from '../../lib/projection';
import { ACTIONS, action, actionsTable, type ActionRow, type ExpandedCommand } from '../../lib/saga';
import type { DeviceEvent, DeviceStatus } from '../../services/device/events';
import { defineProjection } from '../../services/events';
import type { UserEvent } from '../../services/user/events';

export const USER_LIFECYCLE = 'user-lifecycle';

interface LifecycleUserRow extends Row {
  user_id: string;
  status: string | null;
  version: number;
}
interface LifecycleDeviceRow extends Row {
  device_id: string;
  user_id: string;
  status: DeviceStatus;
  version: number;
}

const blocked = (status: string | null) => status === 'suspended' || status === 'banned' || status === 'deleted';

/** The user as the policy knows it after the event, applied once, and the steps the event starts. */
const userSeen = <E extends UserEvent>(
  status: (u: LifecycleUserRow, e: E) => string | null,
  steps: (view: ProjectionView, e: E) => void = () => undefined,
): EventHandler<E> => ({
  needs: (e) => [['lifecycle_users', e.aggregateId]],
  apply(view, e) {
    const u = view.get<LifecycleUserRow>('lifecycle_users', e.aggregateId)!;
    if (e.aggregateVersion <= u.version) return;
    view.put('lifecycle_users', { ...u, status: status(u, e), version: e.aggregateVersion });
    steps(view, e);
  },
});

/** The device as the policy knows it after the event, applied once, and what a blocked owner's device gets. */
const deviceSeen = <E extends DeviceEvent>(
  status: (current: LifecycleDeviceRow | undefined) => DeviceStatus,
  steps: (view: ProjectionView, e: E, owner: LifecycleUserRow) => void = () => undefined,
): EventHandler<E> => ({
  needs: (e) => [
    ['lifecycle_devices', e.aggregateId],
    ['lifecycle_users', e.userId],
  ],
  apply(view, e) {
    const current = view.get<LifecycleDeviceRow>('lifecycle_devices', e.aggregateId);
    if (current && e.aggregateVersion <= current.version) return;
    view.put('lifecycle_devices', { device_id: e.aggregateId, user_id: e.userId, status: status(current), version: e.aggregateVersion });
    steps(view, e, view.get<LifecycleUserRow>('lifecycle_users', e.userId)!);
  },
});

/**
 * The user-lifecycle policy: user.deleted → the user's running devices are stopped and all their devices
 * deleted; user.status.changed to suspended or banned → running devices stopped. Which devices is decided
 * when the step is sent, on the devices the policy knows then; a device started (or created) after its user
 * was blocked is stopped (or deleted) as it appears.
 */
export const userLifecyclePolicy = defineProjection({
  name: USER_LIFECYCLE,
  tables: {
    lifecycle_users: { key: 'user_id', source: { placeholder: (id) => ({ user_id: id, status: null, version: 0 }) } },
    lifecycle_devices: { key: 'device_id' },
    [ACTIONS]: actionsTable,
  },
  on: {
    user: {
      'user.created': userSeen((_, e) => e.status),
      'user.updated': userSeen((u) => u.status),
      'user.erased': userSeen((u) => u.status),
      'user.status.changed': userSeen(
        (_, e) => e.status,
        (view, e) => {
          if (!blocked(e.status)) return;
          view.put(
            ACTIONS,
            action(USER_LIFECYCLE, e, 'stop-devices', {
              kind: 'user-devices',
              payload: { userId: e.aggregateId, delete: false, reason: `user ${e.status}` },
            }),
          );
        },
      ),
      'user.deleted': userSeen(
        () => 'deleted',
        (view, e) =>
          view.put(
            ACTIONS,
            action(USER_LIFECYCLE, e, 'release-devices', {
              kind: 'user-devices',
              payload: { userId: e.aggregateId, delete: true, reason: 'user deleted' },
            }),
          ),
      ),
    },
    device: {
      'device.created': deviceSeen(
        () => 'created',
        (view, e, owner) => {
          if (owner.status !== 'deleted') return;
          view.put(
            ACTIONS,
            action(USER_LIFECYCLE, e, 'delete-late-device', {
              aggregate: 'device',
              aggregateId: e.aggregateId,
              type: 'DeleteDevice',
              payload: { reason: 'user deleted' },
            }),
          );
        },
      ),
      'device.started': deviceSeen(
        () => 'running',
        (view, e, owner) => {
          if (!blocked(owner.status)) return;
          view.put(
            ACTIONS,
            action(USER_LIFECYCLE, e, 'stop-late-start', {
              aggregate: 'device',
              aggregateId: e.aggregateId,
              type: 'StopDevice',
              payload: { reason: `user ${owner.status}` },
            }),
          );
        },
      ),
      'device.stopped': deviceSeen(() => 'stopped'),
      'device.deleted': deviceSeen(() => 'deleted'),
      'device.updated': deviceSeen((current) => current?.status ?? 'created'),
    },
  },
});

/** Expands a user-devices step into a stop for each running device and, for a deleted user, a delete for each device. */
export async function expandUserDevices(a: ActionRow, trx: Knex.Transaction): Promise<ExpandedCommand[]> {
  const { userId, delete: del, reason } = a.payload as { userId: string; delete: boolean; reason: string };
  const devices = (await trx('lifecycle_devices')
    .where({ user_id: userId })
    .whereNot({ status: 'deleted' })
    .orderBy('device_id')) as LifecycleDeviceRow[];
  const out: ExpandedCommand[] = [];
  for (const d of devices) {
    if (d.status === 'running')
      out.push({ step: `stop/${d.device_id}`, aggregate: 'device', aggregateId: d.device_id, type: 'StopDevice', payload: { reason } });
    if (del)
      out.push({ step: `delete/${d.device_id}`, aggregate: 'device', aggregateId: d.device_id, type: 'DeleteDevice', payload: { reason } });
  }
  return out;
}
