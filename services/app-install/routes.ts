import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { tenantAdminOnly } from '../../lib/auth';
import { commandAuth, commandMeta, newAggregateId, parse, pathId, runCommand, type CheckUser, type CommandDeps } from '../../lib/http';
import { commandOperation, type Operation } from '../../lib/openapi';
import type { AggregateTopics } from '../../lib/topics';
import { fields, noBody } from '../../lib/validation';

const requestBody = z.strictObject({
  userId: fields.userId,
  deviceId: fields.deviceId,
  appId: fields.appId,
  appVersion: fields.appVersion.nullable().optional(),
});
const failBody = z.strictObject({ reason: fields.reason });

/** The operations of this router, for the OpenAPI document (lib/openapi.ts). */
const tag = 'app installs';
export const appInstallOperations: Operation[] = [
  commandOperation({
    method: 'post',
    path: '/app-installs',
    summary: 'Ask for an app install on a device (a user: their own)',
    tag,
    access: 'user',
    body: requestBody,
    created: true,
  }),
  commandOperation({
    method: 'post',
    path: '/app-installs/:id/complete',
    summary: 'Report an install completed',
    tag,
    access: 'tenant_admin',
    body: noBody,
  }),
  commandOperation({
    method: 'post',
    path: '/app-installs/:id/fail',
    summary: 'Report an install failed',
    tag,
    access: 'tenant_admin',
    body: failBody,
  }),
];

/** The app install command API: a user asks for an install; the device side (a tenant admin) reports it completed or failed. */
export function appInstallRoutes(deps: CommandDeps & { topics: AggregateTopics; checkUser: CheckUser }): Router {
  const router = new Router({ prefix: '/app-installs' });
  const body = (ctx: Context) => ctx.request.body ?? {};
  const auth = commandAuth(deps);

  router.post('/', auth, async (ctx) => {
    const input = parse(requestBody, body(ctx));
    await deps.checkUser(ctx, input.userId);
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, newAggregateId(ctx, 'request-install'), 'request-install'),
      type: 'RequestAppInstall',
      payload: { ...input, appVersion: input.appVersion ?? null },
      created: true,
    });
  });

  router.post('/:id/complete', auth, tenantAdminOnly, async (ctx) => {
    parse(noBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'complete-install'),
      type: 'CompleteAppInstall',
      payload: {},
    });
  });

  router.post('/:id/fail', auth, tenantAdminOnly, async (ctx) => {
    const input = parse(failBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'fail-install'),
      type: 'FailAppInstall',
      payload: input,
    });
  });

  return router;
}
