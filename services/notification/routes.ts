import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { commandMeta, newAggregateId, parse, pathId, runCommand, type CommandDeps } from '../../lib/http';
import type { AggregateTopics } from '../../lib/topics';
import { id, text } from '../../lib/validation';

const sendBody = z.strictObject({ userId: id, title: text(100), content: text(2000), cause: text(100) });

/** The notification command API: an operator issues a notice; the user reads it. */
export function notificationRoutes(deps: CommandDeps & { topics: AggregateTopics }): Router {
  const router = new Router({ prefix: '/notifications' });
  const body = (ctx: Context) => ctx.request.body ?? {};

  router.post('/', async (ctx) => {
    const input = parse(sendBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, newAggregateId(ctx, 'send-notification'), 'send-notification'),
      type: 'SendNotification',
      payload: input,
      created: true,
    });
  });

  router.post('/:id/read', async (ctx) => {
    parse(z.strictObject({}), body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'read-notification'),
      type: 'ReadNotification',
      payload: {},
    });
  });

  return router;
}
