import type { Projection, ProjectionView, Row } from '../../lib/projection';
import { assertNever } from '../../lib/decider';
import { applyUserCopy, userCopyTable, userFields, type UserCopyRow } from '../common/user-copy';
import { isAppInstallEvent, type AppInstallEvent, type AppInstallStatus } from '../../services/app-install/events';
import { isDeviceEvent, type DeviceEvent, type DeviceStatus } from '../../services/device/events';
import { isUserEvent } from '../../services/user/events';

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

function applyDevice(view: ProjectionView, e: DeviceEvent): void {
  const at = new Date(e.occurredAt);
  if (e.type === 'device.created') {
    const user = view.get<UserCopyRow>('device_users', e.userId);
    const row: DeviceRow = {
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
      ...userFields(user),
    };
    view.put('devices', row);
    return;
  }
  const device = view.get<DeviceRow>('devices', e.aggregateId);
  if (!device || e.aggregateVersion <= device.version) return;
  const next = { ...device, updated_at: at, version: e.aggregateVersion };
  switch (e.type) {
    case 'device.started':
      return view.put('devices', { ...next, status: 'running' });
    case 'device.stopped':
      return view.put('devices', { ...next, status: 'stopped' });
    case 'device.updated':
      return view.put('devices', { ...next, name: e.name ?? device.name, spec: e.spec ? { ...e.spec } : device.spec });
    case 'device.deleted':
      return view.put('devices', { ...next, status: 'deleted' });
    default:
      return assertNever(e);
  }
}

function applyApp(view: ProjectionView, e: AppInstallEvent): void {
  const at = new Date(e.occurredAt);
  if (e.type === 'app.install.requested') {
    const row: DeviceAppRow = {
      install_id: e.aggregateId,
      device_id: e.deviceId,
      tenant_id: e.tenantId,
      user_id: e.userId,
      app_id: e.appId,
      app_version: e.appVersion,
      status: 'requested',
      requested_at: at,
      installed_at: null,
      failed_at: null,
      failure_reason: null,
      version: e.aggregateVersion,
    };
    return view.put('device_apps', row);
  }
  const app = view.get<DeviceAppRow>('device_apps', e.aggregateId);
  if (!app || e.aggregateVersion <= app.version) return;
  switch (e.type) {
    case 'app.install.completed':
      return view.put('device_apps', { ...app, status: 'installed', installed_at: at, version: e.aggregateVersion });
    case 'app.install.failed':
      return view.put('device_apps', { ...app, status: 'failed', failed_at: at, failure_reason: e.reason, version: e.aggregateVersion });
    default:
      return assertNever(e);
  }
}

/** Devices with their redundant user fields and installed apps. Reads the user, device and app install topics. */
export const deviceProjection: Projection = {
  name: 'device',
  topics: (t) => [t.user.events, t.device.events, t.appInstall.events],
  tables: {
    device_users: userCopyTable,
    devices: { key: 'device_id' },
    device_apps: { key: 'install_id' },
  },
  needs(e) {
    if (isUserEvent(e)) return [['device_users', e.aggregateId]];
    if (isDeviceEvent(e)) {
      return e.type === 'device.created'
        ? [
            ['devices', e.aggregateId],
            ['device_users', e.userId],
          ]
        : [['devices', e.aggregateId]];
    }
    if (isAppInstallEvent(e)) return [['device_apps', e.aggregateId]];
    return [];
  },
  apply(view, e) {
    if (isUserEvent(e))
      applyUserCopy(view, 'device_users', e, [{ table: 'devices', fields: ['username', 'email', 'phone', 'user_status'] }]);
    else if (isDeviceEvent(e)) applyDevice(view, e);
    else if (isAppInstallEvent(e)) applyApp(view, e);
  },
};
