import { randomUUID } from 'node:crypto';
import type Router from '@koa/router';
import type { Server } from 'node:http';
import { createCommandBus } from '../lib/command-bus';
import { createCommandProcessor, type CommandProcessor } from '../lib/command-processor';
import type { Config } from '../lib/config';
import { createEventLog } from '../lib/event-log';
import { commandRouter, tableOperations, type AnyCommandTable } from '../lib/command-table';
import { createHttpApp } from '../lib/http';
import type { Operation } from '../lib/openapi';
import { createKafka } from '../lib/kafka';
import { createLogger, type Logger } from '../lib/logger';
import type { Metrics } from '../lib/metrics';
import { createRegistry } from '../lib/registry';
import { commandSealer, vaultFor } from '../lib/pii';
import { createPolicy } from '../lib/policy';
import { topicsFor, type AggregateName } from '../lib/topics';
import { actorCheck, userCheck } from '../services/user/routes';
import { AGGREGATES, REACTIONS } from './slices';

export interface PlatformOptions {
  /** Identifies this process among the instances (consumer groups of its event tails, reply routing). */
  instanceId?: string;
  /** The clock; tests inject one. */
  now?: () => number;
  logger?: Logger;
  /** Port to listen on (0 = any free port); defaults to the config's. */
  port?: number;
  /** More routers served by the same app (e.g. the read side's query API and operations endpoints). */
  routers?: Router[];
  /** Their operations, for the OpenAPI document. */
  operations?: readonly Operation[];
  /** Where the processors count command dead letters and partition ages (the read side's, for one /metrics). */
  metrics?: Metrics;
}

/** The command API: one table per aggregate that takes commands over HTTP (reservations take none). */
export const COMMAND_TABLES: readonly AnyCommandTable[] = Object.values(AGGREGATES).flatMap((a) => (a.commands ? [a.commands] : []));

/** The operations of the command API, for the OpenAPI document. */
export const commandOperations: readonly Operation[] = COMMAND_TABLES.flatMap(tableOperations);

/**
 * The composition root of the command side: one command processor per aggregate (the single writers), the
 * command bus, and the Koa command API. Several instances can run at once, on one machine or many: Kafka's
 * consumer groups share the partitions (and so the aggregates) among their processors.
 */
export async function startCommandSide(cfg: Config, opts: PlatformOptions = {}) {
  const instanceId = opts.instanceId ?? randomUUID();
  const logger = opts.logger ?? createLogger(cfg.logLevel, 'commands');
  // Three principals (lib/acls.ts): the single writers, the API's command bus, the reservation-release policy.
  const clientId = `${cfg.kafka.clientId}.${instanceId}`;
  const kafka = createKafka(cfg, logger, 'commands', clientId);
  const apiKafka = createKafka(cfg, logger, 'api', clientId);
  const policyKafka = createKafka(cfg, logger, 'policies', clientId);
  const registry = createRegistry(cfg, 'reader');
  // The writers seal personal data under keys kept in PostgreSQL (lib/pii.ts); the release policy destroys them.
  const vault = vaultFor(cfg);
  const eventLog = createEventLog(registry, undefined, { vault });
  const topics = topicsFor(cfg.topics.namespace);
  const now = opts.now ?? Date.now;

  const processors: CommandProcessor[] = (Object.keys(AGGREGATES) as AggregateName[]).map((name) =>
    createCommandProcessor({
      kafka,
      eventLog,
      decider: AGGREGATES[name].decider,
      owner: AGGREGATES[name].owner,
      vault,
      topics: topics[name],
      repliesTopic: topics.replies,
      deadLettersTopic: topics.commandDeadLetters,
      metrics: opts.metrics,
      groupId: `${topics.namespace}.${name}.processor`,
      instanceId,
      logger,
    }),
  );
  const personal = new Map(
    (Object.keys(AGGREGATES) as AggregateName[]).flatMap((n) => {
      const p = AGGREGATES[n].decider.personal;
      return p ? [[topics[n].commands, p] as const] : [];
    }),
  );
  const bus = createCommandBus({
    kafka: apiKafka,
    repliesTopic: topics.replies,
    instanceId,
    logger,
    timeoutMs: cfg.commandTimeoutMs,
    seal: commandSealer(vault, personal),
  });
  const policies = REACTIONS.filter((r) => r.runsIn === 'commands').map((r) =>
    createPolicy({
      reactions: r.reactions,
      kafka: policyKafka,
      eventLog,
      bus,
      groupId: r.groupId(topics.namespace),
      topics,
      logger,
      vault,
    }),
  );
  await Promise.all([...processors.map((p) => p.start()), bus.start()]);
  await Promise.all(policies.map((p) => p.start()));

  const core = { bus, now, auth: cfg.auth };
  const base = { ...core, checkActor: actorCheck({ ...core, topics }) };
  const deps = { ...base, checkUser: userCheck({ ...base, topics }) };
  const http = createHttpApp({
    logger,
    routers: [...COMMAND_TABLES.map((table) => commandRouter(table, { ...deps, topics })), ...(opts.routers ?? [])],
    operations: [...commandOperations, ...(opts.operations ?? [])],
  });
  const { server, url } = await http.listen(opts.port ?? cfg.http.port, cfg.http.host);
  logger.info({ url, instanceId }, 'command API listening');

  return {
    url,
    instanceId,
    topics,
    bus,
    /** Per aggregate, the partitions its writer owns and has restored, how many aggregates it holds, its restores. */
    writers: () =>
      Object.fromEntries(
        (Object.keys(AGGREGATES) as AggregateName[]).map((name, i) => [
          name,
          { ...processors[i]!.holding(), restores: processors[i]!.restores() },
        ]),
      ) as Record<AggregateName, ReturnType<CommandProcessor['holding']> & { restores: ReturnType<CommandProcessor['restores']> }>,
    /** Resolves once every writer has restored the partitions it owns now. */
    whenReady: () => Promise.all(processors.map((p) => p.whenReady())).then(() => undefined),
    /** Every route served (method and OpenAPI path) and the OpenAPI document (GET /openapi.json). */
    routes: http.routes,
    document: http.document,
    async stop(): Promise<void> {
      await new Promise<void>((resolve) => {
        (server as Server).close(() => resolve());
        (server as Server).closeAllConnections();
      });
      await Promise.all(policies.map((p) => p.stop()));
      await bus.stop();
      await Promise.all(processors.map((p) => p.stop()));
      await vault.close();
    },
  };
}

export type CommandSide = Awaited<ReturnType<typeof startCommandSide>>;
