import type { CommandBus } from '../lib/command-bus';
import type { Config } from '../lib/config';
import { createDb, migrate } from '../lib/db';
import { createEventLog } from '../lib/event-log';
import { createKafka } from '../lib/kafka';
import { createLogger, type Logger } from '../lib/logger';
import { createPolicy } from '../lib/policy';
import type { Projection } from '../lib/projection';
import { createProjectionWorker } from '../lib/projection-worker';
import { createRegistry } from '../lib/registry';
import { createActionDispatcher } from '../lib/saga';
import { topicsFor } from '../lib/topics';
import { deviceAgent, expandInstall } from './device-agent/agent';
import { NOTIFICATIONS, notificationReactions } from './notifications/policy';
import { purchasePlanSaga } from './purchase-plan/saga';
import { expandUserDevices, userLifecyclePolicy } from './user-lifecycle/policy';

/** The stateful sagas and policies: projections over the topics whose rows include the commands to send. */
export const sagasFor = (cfg: Config): Projection[] => [
  purchasePlanSaga({ paymentTimeoutMs: cfg.sagas.paymentTimeoutMs, deviceQuota: cfg.sagas.deviceQuota }),
  userLifecyclePolicy,
  deviceAgent({ installDelayMs: cfg.sagas.installDelayMs }),
];

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
  const eventLog = createEventLog(createRegistry(cfg, 'reader'));
  const topics = topicsFor(cfg.topics.namespace);
  const workers = sagasFor(cfg).map((saga) =>
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
    expanders: { 'user-devices': expandUserDevices, install: expandInstall },
  });
  const notifications = createPolicy({
    reactions: notificationReactions,
    kafka,
    eventLog,
    bus: deps.bus,
    groupId: `${topics.namespace}.policy.${NOTIFICATIONS}`,
    topics,
    logger,
  });
  await Promise.all([...workers.map((w) => w.start()), notifications.start()]);
  dispatcher.start();
  return {
    db,
    dispatcher,
    async stop(): Promise<void> {
      await dispatcher.stop();
      await Promise.all([...workers.map((w) => w.stop()), notifications.stop()]);
      await db.destroy();
    },
  };
}
