import Router from '@koa/router';
import { z } from 'zod';
import { operatorOnly } from '../../lib/auth';
import type { AuthConfig, Config } from '../../lib/config';
import { createEventLog } from '../../lib/event-log';
import { vaultFor } from '../../lib/pii';
import { createKafka } from '../../lib/kafka';
import { createLogger } from '../../lib/logger';
import type { Projection } from '../../lib/projection';
import { createRegistry } from '../../lib/registry';
import { notFound } from '../../lib/errors';
import { parse } from '../../lib/http';
import type { Operation } from '../../lib/openapi';
import { queryParams } from '../../lib/query';
import { AGGREGATE_NAMES } from '../../lib/topics';
import { id } from '../../lib/validation';
import {
  aggregateHistory,
  deadLetters,
  projectionsOverview,
  rebuildsInProgress,
  redriveDeadLetters,
  schemaSubjects,
  topicsOverview,
  type ConsoleDeps,
} from './api';
import { consoleScript } from './bundle';
import { deadLettersView, historyView, projectionsView, rebuildsView, redriveView, schemasView, topicsView } from './views';
import { CONSOLE_CSS, CONSOLE_HTML, securityHeaders } from './page';

const limit = (max: number, dflt: number) =>
  z.coerce.number().int().min(1, `limit is 1 to ${max}`).max(max, `limit is 1 to ${max}`).default(dflt);

const historyQuery = z.strictObject({ limit: limit(1000, 500) });
const deadLettersQuery = z.strictObject({ limit: limit(200, 50) });
const noQuery = z.strictObject({});
const aggregateParam = z.enum(AGGREGATE_NAMES, { message: `aggregate is one of ${AGGREGATE_NAMES.join(', ')}` });
const projectionParam = (projections: readonly Projection[]) =>
  z.enum(
    projections.map((p) => p.name),
    { message: `projection is one of ${projections.map((p) => p.name).join(', ')}` },
  );
/** A re-drive from the console: all of the projection's dead letters (or from an offset), for real or as a dry run. */
const redriveBody = z.strictObject({
  fromOffset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  dryRun: z.boolean().optional(),
});

const operator = (
  path: string,
  summary: string,
  response: z.ZodType,
  opts: { query?: z.ZodObject; problems?: number[] } = {},
): Operation => ({
  method: 'get',
  path,
  summary,
  tag: 'console',
  access: 'operator',
  query: opts.query,
  responses: { 200: response },
  problems: opts.problems ?? [400, 401],
});
const asset = (path: string, summary: string, contentType: string): Operation => ({
  method: 'get',
  path,
  summary,
  tag: 'console',
  access: 'public',
  query: noQuery,
  responses: { 200: { contentType, schema: z.string() } },
  problems: [400],
});

/** The operations of the console, for the OpenAPI document: the page and its assets are public, the data is the operator's. */
export const consoleOperations: Operation[] = [
  asset('/console', 'The operations console (HTML shell; the operator pastes the operator token into it)', 'text/html'),
  asset('/console/app.js', 'The console’s script (bundled from platform/console/web/)', 'text/javascript'),
  asset('/console/app.css', 'The console’s stylesheet', 'text/css'),
  operator(
    '/console/api/topics',
    'The namespace’s topics: partitions and their low and high offsets (size on disk: not available)',
    topicsView,
  ),
  operator('/console/api/projections', 'Each projection’s lag in events and in seconds, per partition', projectionsView),
  operator(
    '/console/api/aggregates/:aggregate/:id',
    'An aggregate’s events, decoded: type, version, position, schema id, correlation, causation and command ids',
    historyView,
    { query: historyQuery, problems: [400, 401, 404] },
  ),
  operator('/console/api/dead-letters', 'The newest dead letters of the projections and of the command processors', deadLettersView, {
    query: deadLettersQuery,
  }),
  operator('/console/api/schemas', 'The registry’s subjects of this namespace with their versions', schemasView),
  operator('/console/api/rebuilds', 'Rebuilds in progress (their shadow schemas), with progress and ETA', rebuildsView),
  {
    method: 'post',
    path: '/console/api/redrive/:projection',
    summary:
      'Re-drive a projection’s dead letters after a fix (npm run redrive): each applied once with a record in the same transaction; one that still fails stays dead with the new error',
    tag: 'console',
    access: 'operator',
    query: noQuery,
    body: redriveBody,
    responses: { 200: redriveView },
    problems: [400, 401, 415, 503],
  },
];

/**
 * The operations console: GET /console (the page, its script and stylesheet) and its JSON API under
 * /console/api/, behind the operator token. Routes parse and validate, ask ./api.ts, answer.
 */
export function consoleRoutes(deps: ConsoleDeps & { auth: AuthConfig }): Router {
  const router = new Router();
  const ops = operatorOnly(deps.auth);

  router.get('/console', (ctx) => {
    queryParams(ctx, noQuery);
    securityHeaders(ctx);
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = CONSOLE_HTML;
  });
  router.get('/console/app.js', async (ctx) => {
    queryParams(ctx, noQuery);
    securityHeaders(ctx);
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.body = await consoleScript();
  });
  router.get('/console/app.css', (ctx) => {
    queryParams(ctx, noQuery);
    securityHeaders(ctx);
    ctx.type = 'text/css; charset=utf-8';
    ctx.body = CONSOLE_CSS;
  });

  router.get('/console/api/topics', ops, async (ctx) => {
    queryParams(ctx, noQuery);
    ctx.body = { topics: await topicsOverview(deps) };
  });
  router.get('/console/api/projections', ops, async (ctx) => {
    queryParams(ctx, noQuery);
    ctx.body = { now: new Date(deps.now()).toISOString(), projections: await projectionsOverview(deps) };
  });
  router.get('/console/api/aggregates/:aggregate/:id', ops, async (ctx) => {
    const aggregate = parse(aggregateParam, ctx.params.aggregate, 'aggregate in the path');
    const aggregateId = parse(id, ctx.params.id, 'id in the path');
    const q = queryParams(ctx, historyQuery);
    const history = await aggregateHistory(deps, aggregate, aggregateId, q.limit);
    if (history.total === 0) throw notFound(`no events of ${aggregate} ${aggregateId}`);
    ctx.body = history;
  });
  router.get('/console/api/dead-letters', ops, async (ctx) => {
    const q = queryParams(ctx, deadLettersQuery);
    ctx.body = { deadLetters: await deadLetters(deps, q.limit) };
  });
  router.get('/console/api/schemas', ops, async (ctx) => {
    queryParams(ctx, noQuery);
    ctx.body = { subjects: await schemaSubjects(deps) };
  });
  router.get('/console/api/rebuilds', ops, async (ctx) => {
    queryParams(ctx, noQuery);
    ctx.body = { rebuilds: await rebuildsInProgress(deps) };
  });
  router.post('/console/api/redrive/:projection', ops, async (ctx) => {
    const name = parse(projectionParam(deps.projections), ctx.params.projection, 'projection in the path');
    queryParams(ctx, noQuery);
    const body = parse(redriveBody, ctx.request.body ?? {}, 'request body');
    ctx.body = await redriveDeadLetters(
      deps,
      deps.projections.find((p) => p.name === name)!,
      body,
    );
  });
  return router;
}

/** The console wired onto a read side: the tools principal for the topics, the reader's registry, the wall clock. */
export function consoleRouter(
  read: Pick<ConsoleDeps, 'admin' | 'db' | 'queryDb' | 'topics'>,
  cfg: Config,
  projections: readonly Projection[],
) {
  const logger = createLogger(cfg.logLevel, 'console');
  const registry = createRegistry(cfg, 'reader');
  return consoleRoutes({
    ...read,
    kafka: createKafka(cfg, logger, 'tools', `${cfg.kafka.clientId}.console`),
    eventLog: createEventLog(registry, undefined, { vault: vaultFor(cfg, read.db) }),
    registry,
    projections,
    logger,
    auth: cfg.auth,
    now: Date.now,
  });
}
