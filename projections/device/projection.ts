import type { EventHandler, Row } from '../../lib/projection';
import { userCopyHandlers, userCopyTable, userFields, type UserCopyRow } from '../common/user-copy';
import type { AppInstallEvent, AppInstallStatus } from '../../services/app-install/events';
import type { DeviceEvent, DeviceStatus } from '../../services/device/events';
import { defineProjection } from '../../services/events';

export interface DeviceRow extends Row {
  device_id: string;
  tenant_id: string | null;
  user_id: string;
  order_id: string | null;
  name: string;
  spec: Record<string, unknown>;
  tier: string;
  region: string;
  status: DeviceStatus;
  created_at: Date;
  updated_at: Date;
  version: number;
  username: string | null;
  email: string | null;
  phone: string | null;
  user_status: string | null;
}

export interface DeviceAppRow extends Row {
  install_id: string;
  device_id: string;
  tenant_id: string | null;
  user_id: string;
  app_id: string;
  app_version: string | null;
  status: AppInstallStatus;
  requested_at: Date;
  installed_at: Date | null;
  failed_at: Date | null;
  failure_reason: string | null;
  version: number;
}

/** A change to a device the projection knows, applied once (an event at or below the row's version is old news). */
const deviceChange = <E extends DeviceEvent>(change: (device: DeviceRow, e: E) => Partial<DeviceRow>): EventHandler<E> => ({
  needs: (e) => [['devices', e.aggregateId]],
  apply(view, e) {
    const device = view.get<DeviceRow>('devices', e.aggregateId);
    if (!device || e.aggregateVersion <= device.version) return;
    view.put('devices', { ...device, ...change(device, e), updated_at: new Date(e.occurredAt), version: e.aggregateVersion });
  },
});

/** A change to an install the projection knows, applied once. */
const appChange = <E extends AppInstallEvent>(change: (e: E) => Partial<DeviceAppRow>): EventHandler<E> => ({
  needs: (e) => [['device_apps', e.aggregateId]],
  apply(view, e) {
    const app = view.get<DeviceAppRow>('device_apps', e.aggregateId);
    if (!app || e.aggregateVersion <= app.version) return;
    view.put('device_apps', { ...app, ...change(e), version: e.aggregateVersion });
  },
});

/** Devices with their redundant user fields and installed apps. Reads the user, device and app install topics. */
export const deviceProjection = defineProjection({
  name: 'device',
  tables: {
    device_users: userCopyTable,
    devices: { key: 'device_id', push: 'device' },
    device_apps: { key: 'install_id' },
  },
  on: {
    user: userCopyHandlers('device_users', [{ table: 'devices', fields: ['username', 'email', 'phone', 'user_status'] }]),
    device: {
      'device.created': {
        needs: (e) => [
          ['devices', e.aggregateId],
          ['device_users', e.userId],
        ],
        apply(view, e) {
          const at = new Date(e.occurredAt);
          view.put('devices', {
            device_id: e.aggregateId,
            tenant_id: e.tenantId,
            user_id: e.userId,
            order_id: e.orderId,
            name: e.name,
            spec: { ...e.spec },
            tier: e.tier,
            region: e.region,
            status: 'created',
            created_at: at,
            updated_at: at,
            version: e.aggregateVersion,
            ...userFields(view.get<UserCopyRow>('device_users', e.userId)),
          } satisfies DeviceRow);
        },
      },
      'device.started': deviceChange(() => ({ status: 'running' })),
      'device.stopped': deviceChange(() => ({ status: 'stopped' })),
      'device.updated': deviceChange((device, e) => ({ name: e.name ?? device.name, spec: e.spec ? { ...e.spec } : device.spec })),
      'device.deleted': deviceChange(() => ({ status: 'deleted' })),
    },
    appInstall: {
      'app.install.requested': {
        needs: (e) => [['device_apps', e.aggregateId]],
        apply: (view, e) =>
          view.put('device_apps', {
            install_id: e.aggregateId,
            device_id: e.deviceId,
            tenant_id: e.tenantId,
            user_id: e.userId,
            app_id: e.appId,
            app_version: e.appVersion,
            status: 'requested',
            requested_at: new Date(e.occurredAt),
            installed_at: null,
            failed_at: null,
            failure_reason: null,
            version: e.aggregateVersion,
          } satisfies DeviceAppRow),
      },
      'app.install.completed': appChange((e) => ({ status: 'installed', installed_at: new Date(e.occurredAt) })),
      'app.install.failed': appChange((e) => ({ status: 'failed', failed_at: new Date(e.occurredAt), failure_reason: e.reason })),
    },
  },
});
