import Router from '@koa/router';
import { z } from 'zod';
import { commandAuth, commandMeta, newAggregateId, parse, pathId, runCommand, type CheckUser, type CommandDeps } from '../../lib/http';
import { commandOperation, type Operation } from '../../lib/openapi';
import type { AggregateTopics } from '../../lib/topics';
import { fields, noBody, reason } from '../../lib/validation';

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

/** The operations of this router, for the OpenAPI document (lib/openapi.ts). */
const tag = 'devices';
export const deviceOperations: Operation[] = [
  commandOperation({
    method: 'post',
    path: '/devices',
    summary: 'Allocate a device (a user: to themselves)',
    tag,
    access: 'user',
    body: createBody,
    created: true,
  }),
  commandOperation({ method: 'patch', path: '/devices/:id', summary: 'Rename or resize a device', tag, access: 'user', body: updateBody }),
  commandOperation({ method: 'post', path: '/devices/:id/start', summary: 'Power a device on', tag, access: 'user', body: noBody }),
  commandOperation({ method: 'post', path: '/devices/:id/stop', summary: 'Power a device off', tag, access: 'user', body: reasonBody }),
  commandOperation({ method: 'delete', path: '/devices/:id', summary: 'Release a device', tag, access: 'user', body: reasonBody }),
];

/** The device command API: allocate, start, stop, rename or resize, release (a user their own devices, a tenant admin any of the tenant's). */
export function deviceRoutes(deps: CommandDeps & { topics: AggregateTopics; checkUser: CheckUser }): Router {
  const router = new Router({ prefix: '/devices' });
  const body = (ctx: { request: { body?: unknown } }) => ctx.request.body ?? {};
  const auth = commandAuth(deps);

  router.post('/', auth, async (ctx) => {
    const input = parse(createBody, body(ctx));
    await deps.checkUser(ctx, input.userId);
    const deviceId = newAggregateId(ctx, 'create-device');
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, deviceId, 'create-device'),
      type: 'CreateDevice',
      payload: { ...input, orderId: input.orderId ?? null },
      created: true,
    });
  });

  router.patch('/:id', auth, async (ctx) => {
    const input = parse(updateBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'update-device'),
      type: 'UpdateDevice',
      payload: input,
    });
  });

  router.post('/:id/start', auth, async (ctx) => {
    parse(noBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'start-device'),
      type: 'StartDevice',
      payload: {},
    });
  });

  router.post('/:id/stop', auth, async (ctx) => {
    const input = parse(reasonBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'stop-device'),
      type: 'StopDevice',
      payload: { reason: input.reason ?? null },
    });
  });

  router.delete('/:id', auth, async (ctx) => {
    const input = parse(reasonBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'delete-device'),
      type: 'DeleteDevice',
      payload: { reason: input.reason ?? null },
    });
  });

  return router;
}
