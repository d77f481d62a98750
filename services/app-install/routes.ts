import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { commandMeta, newAggregateId, parse, pathId, runCommand, type CommandDeps } from '../../lib/http';
import type { AggregateTopics } from '../../lib/topics';
import { id, text } from '../../lib/validation';

const requestBody = z.strictObject({
  userId: id,
  deviceId: id,
  appId: z.string().regex(/^[a-zA-Z][\w]*(\.[a-zA-Z][\w]*)+$/, 'appId is an Android package name such as com.tencent.mm'),
  appVersion: text(50).nullable().optional(),
});

/** The app install command API: a user asks for an install; the device reports it completed or failed. */
export function appInstallRoutes(deps: CommandDeps & { topics: AggregateTopics }): Router {
  const router = new Router({ prefix: '/app-installs' });
  const body = (ctx: Context) => ctx.request.body ?? {};

  router.post('/', async (ctx) => {
    const input = parse(requestBody, body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, newAggregateId(ctx, 'request-install'), 'request-install'),
      type: 'RequestAppInstall',
      payload: { ...input, appVersion: input.appVersion ?? null },
      created: true,
    });
  });

  router.post('/:id/complete', async (ctx) => {
    parse(z.strictObject({}), body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'complete-install'),
      type: 'CompleteAppInstall',
      payload: {},
    });
  });

  router.post('/:id/fail', async (ctx) => {
    const input = parse(z.strictObject({ reason: text(500) }), body(ctx));
    await runCommand(ctx, deps, deps.topics, {
      meta: commandMeta(ctx, deps, pathId(ctx), 'fail-install'),
      type: 'FailAppInstall',
      payload: input,
    });
  });

  return router;
}
