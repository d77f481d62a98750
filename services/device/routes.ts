import Router from '@koa/router';
import { z } from 'zod';
import { commandMeta, newAggregateId, parse, pathId, runCommand, type CommandDeps } from '../../lib/http';
import type { AggregateTopics } from '../../lib/topics';
import { deviceSpec, id, reason, region, text, tier } from '../../lib/validation';

const createBody = z.strictObject({
  userId: id,
  name: text(100),
  spec: deviceSpec,
  tier,
  region,
  orderId: id.nullable().optional(),
});
const updateBody = z
  .strictObject({ name: text(100).optional(), spec: deviceSpec.optional() })
  .refine((b) => b.name !== undefined || b.spec !== undefined, 'give a name or a spec to change');
const reasonBody = z.strictObject({ reason });

/** The device command API: allocate, start, stop, rename or resize, release. */
export function deviceRoutes(deps: CommandDeps & { topics: AggregateTopics }): Router {
  const router = new Router({ prefix: '/devices' });
  const body = (ctx: { request: { body?: unknown } }) => ctx.request.body ?? {};

  router.post('/', async (ctx) => {
    const input = parse(createBody, body(ctx));
    const deviceId = newAggregateId(ctx, 'create-device');
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, deviceId, 'create-device'),
      type: 'CreateDevice',
      payload: { ...input, orderId: input.orderId ?? null },
      created: true,
    });
  });

  router.patch('/:id', async (ctx) => {
    const input = parse(updateBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'update-device'),
      type: 'UpdateDevice',
      payload: input,
    });
  });

  router.post('/:id/start', async (ctx) => {
    parse(z.strictObject({}), body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'start-device'),
      type: 'StartDevice',
      payload: {},
    });
  });

  router.post('/:id/stop', async (ctx) => {
    const input = parse(reasonBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'stop-device'),
      type: 'StopDevice',
      payload: { reason: input.reason ?? null },
    });
  });

  router.delete('/:id', async (ctx) => {
    const input = parse(reasonBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'delete-device'),
      type: 'DeleteDevice',
      payload: { reason: input.reason ?? null },
    });
  });

  return router;
}
