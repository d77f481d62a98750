import { z } from 'zod';
import { commandRow, type CommandTable } from '../../lib/command-table';
import { fields, noBody, reason } from '../../lib/validation';
import type { DeviceCommand } from './decider';

const createBody = z.strictObject({
  userId: fields.userId,
  name: fields.name,
  spec: fields.spec,
  tier: fields.tier,
  region: fields.region,
  orderId: fields.orderId.nullable().optional(),
});
const updateBody = z
  .strictObject({ name: fields.name.optional(), spec: fields.spec.optional() })
  .refine((b) => b.name !== undefined || b.spec !== undefined, 'give a name or a spec to change');
const reasonBody = z.strictObject({ reason });

const row = commandRow<DeviceCommand>();

/** The device command API: allocate, start, stop, rename or resize, release (a user their own devices, a tenant admin any of the tenant's). */
export const deviceCommands: CommandTable<DeviceCommand> = {
  prefix: '/devices',
  tag: 'devices',
  topics: (t) => t.device,
  routes: [
    row({
      method: 'post',
      path: '',
      summary: 'Allocate a device (a user: to themselves)',
      access: 'user',
      body: createBody,
      name: 'create-device',
      type: 'CreateDevice',
      namesUser: (b) => b.userId,
      payload: (b) => ({ ...b, orderId: b.orderId ?? null }),
      created: true,
    }),
    row({
      method: 'patch',
      path: '/:id',
      summary: 'Rename or resize a device',
      access: 'user',
      body: updateBody,
      name: 'update-device',
      type: 'UpdateDevice',
      payload: (b) => b,
    }),
    row({
      method: 'post',
      path: '/:id/start',
      summary: 'Power a device on',
      access: 'user',
      body: noBody,
      name: 'start-device',
      type: 'StartDevice',
      payload: () => ({}),
    }),
    row({
      method: 'post',
      path: '/:id/stop',
      summary: 'Power a device off',
      access: 'user',
      body: reasonBody,
      name: 'stop-device',
      type: 'StopDevice',
      payload: (b) => ({ reason: b.reason ?? null }),
    }),
    row({
      method: 'delete',
      path: '/:id',
      summary: 'Release a device',
      access: 'user',
      body: reasonBody,
      name: 'delete-device',
      type: 'DeleteDevice',
      payload: (b) => ({ reason: b.reason ?? null }),
    }),
  ],
};
