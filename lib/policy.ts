import type { Consumer, Kafka } from 'kafkajs';
import type { CommandBus } from './command-bus';
import { deterministicUuid } from './decider';
import type { AnyEvent, EventLog } from './event-log';
import { createConsumer, runConsumer } from './kafka';
import type { Logger } from './logger';
import { registryUnavailable } from './projection-worker';
import type { AggregateTopics } from './topics';

/** A command a policy wants sent in reaction to an event. */
export interface Reaction {
  readonly topics: AggregateTopics;
  readonly aggregateId: string;
  readonly type: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

/**
 * A policy: consumes events and sends commands through the command side. Command ids are derived from the
 * causing event (policy name + event id + index), so a redelivered or replayed event is the same command and
 * its writer answers with the first result: no effect happens twice.
 */
export function createPolicy(deps: {
  name: string;
  kafka: Kafka;
  eventLog: EventLog;
  bus: CommandBus;
  groupId: string;
  topics: readonly string[];
  logger: Logger;
  react: (event: AnyEvent) => Reaction[];
}) {
  const logger = deps.logger.child({ component: 'policy', policy: deps.name });
  let consumer: Consumer | undefined;
  return {
    async start(): Promise<void> {
      consumer = createConsumer(deps.kafka, deps.groupId);
      await runConsumer(consumer, {
        topics: deps.topics,
        fromBeginning: true,
        logger,
        what: deps.groupId,
        run: {
          eachMessage: async ({ topic, partition, message }) => {
            let event: AnyEvent;
            try {
              event = (await deps.eventLog.decodeMessage(topic, partition, message)).event;
            } catch (err) {
              // The registry being down is no reason to skip a good event: throwing makes the consumer redeliver it.
              if (registryUnavailable(err)) throw err;
              logger.error({ topic, partition, offset: message.offset, err: (err as Error).message }, 'undecodable event skipped');
              return;
            }
            for (const [i, r] of deps.react(event).entries()) {
              const reply = await deps.bus.send(r.topics, {
                meta: {
                  commandId: deterministicUuid(`${deps.name}/${event.eventId}/${i}`),
                  aggregateId: r.aggregateId,
                  tenantId: event.tenantId,
                  correlationId: event.correlationId,
                  causationId: event.eventId,
                  now: event.occurredAt,
                },
                type: r.type,
                payload: r.payload,
              });
              if (!reply.ok) logger.info({ event: event.eventId, command: r.type, reason: reply.message }, 'reaction refused');
            }
          },
        },
      });
    },
    async stop(): Promise<void> {
      await consumer?.disconnect();
    },
  };
}

export type Policy = ReturnType<typeof createPolicy>;
