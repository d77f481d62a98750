import type { CommandBus } from '../lib/command-bus';
import type { Config } from '../lib/config';
import { createDb, migrate } from '../lib/db';
import { createEventLog } from '../lib/event-log';
import { vaultFor } from '../lib/pii';
import { createKafka } from '../lib/kafka';
import { createLogger, type Logger } from '../lib/logger';
import { createPolicy } from '../lib/policy';
import { createProjectionWorker } from '../lib/projection-worker';
import { createRegistry } from '../lib/registry';
import { createActionDispatcher } from '../lib/saga';
import { topicsFor } from '../lib/topics';
import { EXPANDERS, REACTIONS, sagas } from './slices';

/**
 * The composition root of the reactions (DESIGN.md §2): the purchase-plan saga, the user-lifecycle policy and
 * the device agent (exactly-once projections with an outbox of commands), the dispatcher that sends what is
 * due, and the notification service. They send their commands through `bus`, like any client.
 */
export async function startPolicies(cfg: Config, deps: { bus: CommandBus; logger?: Logger; now?: () => number }) {
  const logger = deps.logger ?? createLogger(cfg.logLevel, 'policies');
  const db = createDb(cfg.database.url, { schema: cfg.database.schema });
  await migrate(db, cfg.database.schema);
  const kafka = createKafka(cfg, logger, 'policies', `${cfg.kafka.clientId}.policies.${process.pid}`);
  const eventLog = createEventLog(createRegistry(cfg, 'reader'), undefined, { vault: vaultFor(cfg, db) });
  const topics = topicsFor(cfg.topics.namespace);
  const workers = sagas(cfg).map((saga) =>
    createProjectionWorker({
      kafka,
      db,
      eventLog,
      projection: saga,
      topics: saga.topics(topics),
      deadLetterTopic: topics.deadLetters,
      groupId: `${topics.namespace}.policy.${saga.name}`,
      logger,
    }),
  );
  const dispatcher = createActionDispatcher({
    db,
    bus: deps.bus,
    topics,
    logger,
    now: deps.now,
    intervalMs: cfg.sagas.tickMs,
    expanders: EXPANDERS,
  });
  const policies = REACTIONS.filter((r) => r.runsIn === 'policies').map((r) =>
    createPolicy({ reactions: r.reactions, kafka, eventLog, bus: deps.bus, groupId: r.groupId(topics.namespace), topics, logger }),
  );
  await Promise.all([...workers.map((w) => w.start()), ...policies.map((p) => p.start())]);
  dispatcher.start();
  return {
    db,
    dispatcher,
    async stop(): Promise<void> {
      await dispatcher.stop();
      await Promise.all([...workers.map((w) => w.stop()), ...policies.map((p) => p.stop())]);
      await db.destroy();
    },
  };
}
