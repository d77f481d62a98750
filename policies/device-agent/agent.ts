import type { Knex } from 'knex';
import { IGNORE, type EventHandler, type Projection, type Row } from '../../lib/projection';
import { ACTIONS, action, actionsTable, type ActionRow, type ExpandedCommand } from '../../lib/saga';
import type { DeviceCreated, DeviceEvent, DeviceStatus } from '../../services/device/events';
import { defineProjection } from '../../services/events';

export const DEVICE_AGENT = 'device-agent';

interface AgentDeviceRow extends Row {
  device_id: string;
  status: DeviceStatus;
  version: number;
  /** Whose device it is (null on rows written before the agent kept it). */
  user_id: string | null;
  tenant_id: string | null;
}

/** The device as the agent knows it after the event, applied once; `status` is the device's status after it. */
const deviceSeen = <E extends DeviceEvent>(status: (current: AgentDeviceRow | undefined) => DeviceStatus): EventHandler<E> => ({
  needs: (e) => [['agent_devices', e.aggregateId]],
  apply(view, e) {
    const current = view.get<AgentDeviceRow>('agent_devices', e.aggregateId);
    if (current && e.aggregateVersion <= current.version) return;
    const owner =
      e.type === 'device.created'
        ? { user_id: (e as DeviceCreated).userId, tenant_id: e.tenantId }
        : { user_id: current?.user_id ?? null, tenant_id: current?.tenant_id ?? null };
    view.put('agent_devices', { device_id: e.aggregateId, status: status(current), version: e.aggregateVersion, ...owner });
  },
});

/**
 * The device agent: app.install.requested → after the install time (a delay, not a busy loop: an action due
 * later) the install completes, or fails with the reason when the device is missing (or not the install's
 * user's: the same answer, ids don't leak), deleted or not running at that moment.
 */
export function deviceAgent(opts: { installDelayMs: number }): Projection {
  return defineProjection({
    name: DEVICE_AGENT,
    tables: { agent_devices: { key: 'device_id' }, [ACTIONS]: actionsTable },
    on: {
      device: {
        'device.created': deviceSeen(() => 'created'),
        'device.started': deviceSeen(() => 'running'),
        'device.stopped': deviceSeen(() => 'stopped'),
        'device.deleted': deviceSeen(() => 'deleted'),
        'device.updated': deviceSeen((current) => current?.status ?? 'created'),
      },
      appInstall: {
        'app.install.requested': {
          needs: () => [],
          apply: (view, e) =>
            view.put(
              ACTIONS,
              action(DEVICE_AGENT, e, 'install', {
                kind: 'install',
                payload: { installId: e.aggregateId, deviceId: e.deviceId, userId: e.userId, tenantId: e.tenantId },
                dueAt: e.occurredAt + opts.installDelayMs,
              }),
            ),
        },
        'app.install.completed': IGNORE,
        'app.install.failed': IGNORE,
      },
    },
  });
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
