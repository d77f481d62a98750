import type { Consumer, Kafka } from 'kafkajs';
import type { CommandBus } from './command-bus';
import { deterministicUuid } from './decider';
import type { AnyEvent, EventEnvelope, EventLog } from './event-log';
import { byEventType } from './projection';
import { createConsumer, runConsumer } from './kafka';
import type { Logger } from './logger';
import type { Vault } from './pii';
import { isRetriable } from './retry';
import { contextOf, inSpan, SpanKind } from './tracing';
import type { AggregateName, Topics } from './topics';

/** A command a policy wants sent in reaction to an event. */
export interface CommandReaction {
  readonly aggregate: AggregateName;
  readonly aggregateId: string;
  readonly type: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

/**
 * The destruction of a subject's personal-data key (lib/pii.ts), done once the commands before it in the same
 * reaction, and the reactions to the events before it on the partition, are sent: what they needed to read of the
 * subject's data was read.
 */
export interface ShredReaction {
  readonly shred: string;
}

export type Reaction = CommandReaction | ShredReaction;

/** One reaction per event type of an aggregate: a new event type is a compile error until each policy decides. */
export type ReactionMap<E extends EventEnvelope> = { readonly [K in E['type']]: (e: Extract<E, { type: K }>) => Reaction[] };

/** The reaction of an event type a policy leaves alone. */
export const NO_REACTION = (): Reaction[] => [];

/** What a policy reacts to: the event topics of the aggregates it has a map for, and the reactions. */
export interface Reactions {
  readonly name: string;
  topics(t: Topics): string[];
  react(event: AnyEvent): Reaction[];
}

/** Reactions from per-aggregate maps (typed by the platform's events in services/events.ts: `defineReactions`). */
export function handlerReactions<Events extends Record<AggregateName, EventEnvelope>>(
  name: string,
  on: { readonly [A in AggregateName]?: ReactionMap<Events[A]> },
): Reactions {
  const { aggregates, handlers } = byEventType<(e: AnyEvent) => Reaction[]>(on);
  return {
    name,
    topics: (t) => aggregates.map((a) => t[a].events),
    react: (e) => handlers.get(e.type)?.(e) ?? [],
  };
}

/**
 * A policy: consumes events and sends commands through the command side. Command ids are derived from the
 * causing event (policy name + event id + index), so a redelivered or replayed event is the same command and
 * its writer answers with the first result: no effect happens twice.
 */
export function createPolicy(deps: {
  reactions: Reactions;
  kafka: Kafka;
  eventLog: EventLog;
  bus: CommandBus;
  groupId: string;
  topics: Topics;
  logger: Logger;
  /** The data keys, for a policy whose reactions shred. */
  vault?: Vault;
}) {
  const { reactions, topics } = deps;
  const logger = deps.logger.child({ component: 'policy', policy: reactions.name });
  let consumer: Consumer | undefined;
  return {
    async start(): Promise<void> {
      consumer = createConsumer(deps.kafka, deps.groupId);
      await runConsumer(consumer, {
        topics: reactions.topics(topics),
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
              if (isRetriable(err)) throw err;
              logger.error({ topic, partition, offset: message.offset, err: (err as Error).message }, 'undecodable event skipped');
              return;
            }
            const reactionsTo = reactions.react(event);
            if (reactionsTo.length === 0) return;
            // The reaction's span, the child of the event's command: the commands it sends carry it on.
            await inSpan(
              `react ${reactions.name}`,
              { parent: contextOf(message.headers), kind: SpanKind.CONSUMER, attributes: { 'cloudphone.event_type': event.type } },
              () => sendAll(event, reactionsTo),
            );
          },
        },
      });
    },
    async stop(): Promise<void> {
      await consumer?.disconnect();
    },
  };

  async function sendAll(event: AnyEvent, reactionsTo: Reaction[]): Promise<void> {
    for (const [i, r] of reactionsTo.entries()) {
      if ('shred' in r) {
        if (!deps.vault) throw new Error(`policy ${reactions.name} shreds, and has no vault`);
        await deps.vault.destroy(r.shred);
        logger.info({ event: event.eventId, subject: r.shred }, 'personal-data key destroyed');
        continue;
      }
      const reply = await deps.bus.send(topics[r.aggregate], {
        meta: {
          commandId: deterministicUuid(`${reactions.name}/${event.eventId}/${i}`),
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
  }
}

export type Policy = ReturnType<typeof createPolicy>;
