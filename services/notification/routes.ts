import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { tenantAdminOnly } from '../../lib/auth';
import { commandAuth, commandMeta, newAggregateId, parse, pathId, runCommand, type CheckUser, type CommandDeps } from '../../lib/http';
import { commandOperation, type Operation } from '../../lib/openapi';
import type { AggregateTopics } from '../../lib/topics';
import { fields, noBody } from '../../lib/validation';

const sendBody = z.strictObject({ userId: fields.userId, title: fields.title, content: fields.content, cause: fields.cause });

/** The operations of this router, for the OpenAPI document (lib/openapi.ts). */
const tag = 'notifications';
export const notificationOperations: Operation[] = [
  commandOperation({
    method: 'post',
    path: '/notifications',
    summary: 'Issue a notification to a user',
    tag,
    access: 'tenant_admin',
    body: sendBody,
    created: true,
  }),
  commandOperation({
    method: 'post',
    path: '/notifications/:id/read',
    summary: 'Mark a notification read (its user)',
    tag,
    access: 'user',
    body: noBody,
  }),
];

/** The notification command API: an operator (tenant admin) issues a notice; the user reads it. */
export function notificationRoutes(deps: CommandDeps & { topics: AggregateTopics; checkUser: CheckUser }): Router {
  const router = new Router({ prefix: '/notifications' });
  const body = (ctx: Context) => ctx.request.body ?? {};
  const auth = commandAuth(deps);

  router.post('/', auth, tenantAdminOnly, async (ctx) => {
    const input = parse(sendBody, body(ctx));
    await deps.checkUser(ctx, input.userId);
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, newAggregateId(ctx, 'send-notification'), 'send-notification'),
      type: 'SendNotification',
      payload: input,
      created: true,
    });
  });

  router.post('/:id/read', auth, async (ctx) => {
    parse(noBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'read-notification'),
      type: 'ReadNotification',
      payload: {},
    });
  });

  return router;
}
