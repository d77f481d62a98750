import type { AnyEvent } from '../../lib/event-log';
import type { Projection, ProjectionView, Row } from '../../lib/projection';
import { ACTIONS, action, actionsTable, type ActionRow, type ExpandedCommand } from '../../lib/saga';
import type { Knex } from 'knex';
import { isDeviceEvent, type DeviceStatus } from '../../services/device/events';
import { isUserEvent } from '../../services/user/events';

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

/**
 * The user-lifecycle policy: user.deleted → the user's running devices are stopped and all their devices
 * deleted; user.status.changed to suspended or banned → running devices stopped. Which devices is decided
 * when the step is sent, on the devices the policy knows then; a device started (or created) after its user
 * was blocked is stopped (or deleted) as it appears.
 */
export const userLifecyclePolicy: Projection = {
  name: USER_LIFECYCLE,
  topics: (t) => [t.user.events, t.device.events],
  tables: {
    lifecycle_users: { key: 'user_id', source: { placeholder: (id) => ({ user_id: id, status: null, version: 0 }) } },
    lifecycle_devices: { key: 'device_id' },
    [ACTIONS]: actionsTable,
  },
  needs(e) {
    if (isUserEvent(e)) return [['lifecycle_users', e.aggregateId]];
    if (isDeviceEvent(e))
      return [
        ['lifecycle_devices', e.aggregateId],
        ['lifecycle_users', e.userId],
      ];
    return [];
  },
  apply(view: ProjectionView, event: AnyEvent) {
    if (isUserEvent(event)) {
      const e = event;
      const u = view.get<LifecycleUserRow>('lifecycle_users', e.aggregateId)!;
      if (e.aggregateVersion <= u.version) return;
      if (e.type === 'user.deleted') {
        view.put('lifecycle_users', { ...u, status: 'deleted', version: e.aggregateVersion });
        view.put(
          ACTIONS,
          action(USER_LIFECYCLE, event, 'release-devices', {
            kind: 'user-devices',
            payload: { userId: e.aggregateId, delete: true, reason: 'user deleted' },
          }),
        );
      } else if (e.type === 'user.status.changed' || e.type === 'user.created') {
        view.put('lifecycle_users', { ...u, status: e.status, version: e.aggregateVersion });
        if (e.type === 'user.status.changed' && blocked(e.status)) {
          view.put(
            ACTIONS,
            action(USER_LIFECYCLE, event, 'stop-devices', {
              kind: 'user-devices',
              payload: { userId: e.aggregateId, delete: false, reason: `user ${e.status}` },
            }),
          );
        }
      } else {
        view.put('lifecycle_users', { ...u, version: e.aggregateVersion });
      }
      return;
    }
    if (!isDeviceEvent(event)) return;
    const e = event;
    const current = view.get<LifecycleDeviceRow>('lifecycle_devices', e.aggregateId);
    if (current && e.aggregateVersion <= current.version) return;
    const status = (
      {
        'device.created': 'created',
        'device.started': 'running',
        'device.stopped': 'stopped',
        'device.deleted': 'deleted',
        'device.updated': current?.status ?? 'created',
      } as const
    )[e.type];
    view.put('lifecycle_devices', { device_id: e.aggregateId, user_id: e.userId, status, version: e.aggregateVersion });
    const owner = view.get<LifecycleUserRow>('lifecycle_users', e.userId)!;
    if (e.type === 'device.created' && owner.status === 'deleted') {
      view.put(
        ACTIONS,
        action(USER_LIFECYCLE, event, 'delete-late-device', {
          aggregate: 'device',
          aggregateId: e.aggregateId,
          type: 'DeleteDevice',
          payload: { reason: 'user deleted' },
        }),
      );
    }
    if (e.type === 'device.started' && blocked(owner.status)) {
      view.put(
        ACTIONS,
        action(USER_LIFECYCLE, event, 'stop-late-start', {
          aggregate: 'device',
          aggregateId: e.aggregateId,
          type: 'StopDevice',
          payload: { reason: `user ${owner.status}` },
        }),
      );
    }
  },
};

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
