import type { Config } from '../lib/config';
import { createDb, migrate, pgRoleName, projectionRole, type Db } from '../lib/db';
import { createEventLog } from '../lib/event-log';
import { vaultFor } from '../lib/pii';
import { createKafka } from '../lib/kafka';
import { createLogger, type Logger } from '../lib/logger';
import { createMetrics, type Metrics } from '../lib/metrics';
import type { Projection } from '../lib/projection';
import { createProjectionWorker, grantProjection } from '../lib/projection-worker';
import { createRegistry } from '../lib/registry';
import { topicsFor } from '../lib/topics';
import type { Operation } from '../lib/openapi';
import { projectionOpsOperations, projectionOpsRoutes } from '../projections/routes';
import type Router from '@koa/router';
import { READ_MODELS } from './slices';
import { consoleOperations, consoleRouter } from './console/routes';
import { createChangeFeed, pruneChanges, type ChangeFeed, type PushView } from '../lib/change-feed';
import { streamOperations, streamRoutes } from '../projections/stream';

/** How often the worker forgets changes past their retention (STREAM_RETENTION_HOURS). */
const PRUNE_EVERY_MS = 10 * 60_000;

/** The read models' projections by name (platform/slices.ts lists them). */
export const PROJECTIONS: Record<string, Projection> = Object.fromEntries(READ_MODELS.map((m) => [m.projection.name, m.projection]));

/** Per kind of pushed change (GET /stream): the table it is a row of and the view clients get. */
export const PUSHED: Record<string, { table: string; view: PushView }> = Object.fromEntries(
  READ_MODELS.flatMap((m) =>
    Object.entries(m.projection.tables)
      .filter(([, spec]) => spec.push)
      .map(([table, spec]) => {
        const view = m.pushes[spec.push!];
        if (!view)
          throw new Error(`${m.projection.name}: table ${table} is pushed as "${spec.push}", which its read model has no view for`);
        return [spec.push!, { table, view }];
      }),
  ),
);

/**
 * The composition root of the read side: migrations, then one worker per projection. Several processes can
 * run the same projections: their consumer group shares the partitions.
 */
export async function startProjections(
  cfg: Config,
  opts: { names?: string[]; logger?: Logger; metrics?: Metrics; instanceId?: string } = {},
) {
  const logger = opts.logger ?? createLogger(cfg.logLevel, 'projections');
  const db = createDb(cfg.database.url, { schema: cfg.database.schema, asyncCommit: true });
  await migrate(db, cfg.database.schema);
  const names = opts.names ?? Object.keys(PROJECTIONS);
  for (const name of names) {
    if (!PROJECTIONS[name]) throw new Error(`unknown projection "${name}"; one of ${Object.keys(PROJECTIONS).join(', ')}`);
  }
  // Each projection this process runs writes through a role of its own, allowed only that projection's tables.
  const workerDbs = new Map<string, Db>();
  for (const name of names) {
    const role = projectionRole(name);
    if (!cfg.database.embedded || !role) continue;
    await grantProjection(db, cfg.database.schema ?? 'public', PROJECTIONS[name]!, pgRoleName(role));
    workerDbs.set(name, createDb(cfg.database.projectionUrls[role], { schema: cfg.database.schema, asyncCommit: true }));
  }
  // The query API reads through a role that may only SELECT (lib/db.ts PG_ROLES).
  const queryDb = createDb(cfg.database.queryUrl, { schema: cfg.database.schema });
  const kafka = createKafka(cfg, logger, 'projections', `${cfg.kafka.clientId}.projections.${opts.instanceId ?? process.pid}`);
  const eventLog = createEventLog(createRegistry(cfg, 'reader'), undefined, { vault: vaultFor(cfg, db) });
  const topics = topicsFor(cfg.topics.namespace);
  const metrics = opts.metrics ?? createMetrics();
  const workers = names.map((name) => {
    const projection = PROJECTIONS[name]!;
    return createProjectionWorker({
      kafka,
      db: workerDbs.get(name) ?? db,
      eventLog,
      projection,
      topics: projection.topics(topics),
      deadLetterTopic: topics.deadLetters,
      groupId: `${topics.namespace}.projection.${name}`,
      logger,
      metrics,
    });
  });
  await Promise.all(workers.map((w) => w.start()));
  // The changes pushed to clients are kept for resumes for the retention, then forgotten (by the owner: the
  // workers' roles may only add to the feed).
  const prune = setInterval(() => {
    pruneChanges(db, cfg.stream.retentionMs).catch((err: Error) => logger.warn({ err: err.message }, 'could not prune the change feed'));
  }, PRUNE_EVERY_MS);
  prune.unref();
  // GET /stream's reader of the feed: it connects on the first client.
  const feed = createChangeFeed({
    db: queryDb,
    listenUrl: cfg.database.queryUrl,
    schema: cfg.database.schema ?? 'public',
    views: PUSHED,
    logger,
  });
  // One admin connection for the operations endpoints (projection status), kept for the life of the read side.
  const admin = kafka.admin();
  await admin.connect();
  return {
    db,
    queryDb,
    metrics,
    kafka,
    admin,
    topics,
    feed,
    async stop(): Promise<void> {
      clearInterval(prune);
      await feed.stop();
      await Promise.all(workers.map((w) => w.stop()));
      await admin.disconnect();
      await Promise.all([db.destroy(), queryDb.destroy(), ...[...workerDbs.values()].map((d) => d.destroy())]);
    },
  };
}

export type ReadSide = Awaited<ReturnType<typeof startProjections>>;

/** The operations of the query API, for the OpenAPI document. */
export const queryOperations: readonly Operation[] = [...READ_MODELS.flatMap((m) => m.operations), ...streamOperations];

/**
 * The query API of every read model, served next to the command API: over the read side's query pool (the
 * query role: SELECT only) and topics (a process without projection workers passes its own pool).
 */
export function queryRouters(read: Pick<ReadSide, 'queryDb' | 'topics'> & { feed?: ChangeFeed }, cfg: Config) {
  const deps = { db: read.queryDb, topics: read.topics, auth: cfg.auth, consistencyTimeoutMs: cfg.consistencyTimeoutMs };
  const stream = read.feed ? [streamRoutes({ ...deps, feed: read.feed, limits: cfg.stream })] : [];
  return [...READ_MODELS.map((m) => m.queries(deps)), ...stream];
}

/** The whole read side's HTTP API (query API and operations endpoints) and its operations, as `npm start` serves it. */
export function readSideApi(read: ReadSide, cfg: Config): { routers: Router[]; operations: readonly Operation[]; metrics: Metrics } {
  return {
    routers: [
      projectionOpsRoutes({ ...read, db: read.queryDb, auth: cfg.auth, projections: Object.values(PROJECTIONS) }),
      ...queryRouters(read, cfg),
      // The operations console (GET /console): reads the topics as the tools principal (lib/acls.ts).
      consoleRouter(read, cfg, Object.values(PROJECTIONS)),
    ],
    operations: [...projectionOpsOperations, ...queryOperations, ...consoleOperations],
    // The command side counts its dead letters and partition ages into the same registry (one /metrics).
    metrics: read.metrics,
  };
}
