import type { Knex } from 'knex';
import type { AnyEvent } from '../../lib/event-log';
import type { Projection, Row } from '../../lib/projection';
import { ACTIONS, action, actionsTable, type ActionRow, type ExpandedCommand } from '../../lib/saga';
import { isAppInstallEvent } from '../../services/app-install/events';
import { isDeviceEvent, type DeviceStatus } from '../../services/device/events';

export const DEVICE_AGENT = 'device-agent';

interface AgentDeviceRow extends Row {
  device_id: string;
  status: DeviceStatus;
  version: number;
  /** Whose device it is (null on rows written before the agent kept it). */
  user_id: string | null;
  tenant_id: string | null;
}

const STATUS = {
  'device.created': 'created',
  'device.started': 'running',
  'device.stopped': 'stopped',
  'device.deleted': 'deleted',
} as const;

/**
 * The device agent: app.install.requested → after the install time (a delay, not a busy loop: an action due
 * later) the install completes, or fails with the reason when the device is missing (or not the install's
 * user's: the same answer, ids don't leak), deleted or not running at that moment.
 */
export function deviceAgent(opts: { installDelayMs: number }): Projection {
  return {
    name: DEVICE_AGENT,
    topics: (t) => [t.device.events, t.appInstall.events],
    tables: { agent_devices: { key: 'device_id' }, [ACTIONS]: actionsTable },
    needs: (e) => (isDeviceEvent(e) ? [['agent_devices', e.aggregateId]] : []),
    apply(view, event: AnyEvent) {
      if (isDeviceEvent(event)) {
        const current = view.get<AgentDeviceRow>('agent_devices', event.aggregateId);
        if (current && event.aggregateVersion <= current.version) return;
        const status = event.type === 'device.updated' ? (current?.status ?? 'created') : STATUS[event.type];
        const owner =
          event.type === 'device.created'
            ? { user_id: event.userId, tenant_id: event.tenantId }
            : { user_id: current?.user_id ?? null, tenant_id: current?.tenant_id ?? null };
        view.put('agent_devices', { device_id: event.aggregateId, status, version: event.aggregateVersion, ...owner });
        return;
      }
      if (!isAppInstallEvent(event) || event.type !== 'app.install.requested') return;
      const e = event;
      view.put(
        ACTIONS,
        action(DEVICE_AGENT, event, 'install', {
          kind: 'install',
          payload: { installId: e.aggregateId, deviceId: e.deviceId, userId: e.userId, tenantId: e.tenantId },
          dueAt: e.occurredAt + opts.installDelayMs,
        }),
      );
    },
  };
}

/** Decides the install when it is due, on the device as the agent knows it then. */
export async function expandInstall(a: ActionRow, trx: Knex.Transaction): Promise<ExpandedCommand[]> {
  const { installId, deviceId, userId, tenantId } = a.payload as {
    installId: string;
    deviceId: string;
    userId?: string;
    tenantId?: string;
  };
  const device = (await trx('agent_devices').where({ device_id: deviceId }).first()) as AgentDeviceRow | undefined;
  const foreign = device?.user_id != null && userId !== undefined && (device.user_id !== userId || device.tenant_id !== (tenantId ?? null));
  const failure =
    !device || foreign
      ? 'device not found'
      : device.status === 'deleted'
        ? 'device is deleted'
        : device.status !== 'running'
          ? 'device is not running'
          : null;
  return [
    failure
      ? { step: 'fail', aggregate: 'appInstall', aggregateId: installId, type: 'FailAppInstall', payload: { reason: failure } }
      : { step: 'complete', aggregate: 'appInstall', aggregateId: installId, type: 'CompleteAppInstall', payload: {} },
  ];
}
