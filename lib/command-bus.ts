import type { Consumer, Kafka, Message, Producer } from 'kafkajs';
import { InfraError } from './errors';
import { replySchema, type CommandMessage, type Reply } from './commands';
import type { CommandMeta } from './decider';
import { createConsumer, createProducer, runConsumer } from './kafka';
import type { Logger } from './logger';
import { traceHeaders } from './tracing';
import type { AggregateTopics } from './topics';

/** The command was sent but no reply came in time: its outcome is unknown (a retry with the same Idempotency-Key is safe). */
export class CommandTimeoutError extends InfraError {
  constructor(
    readonly commandId: string,
    timeoutMs: number,
  ) {
    super(`no reply to command ${commandId} within ${timeoutMs}ms; its outcome is unknown — retry with the same Idempotency-Key`, true);
  }
}

/** Kafka could not take the command (broker down or unreachable): nothing was sent. */
export class CommandNotSentError extends InfraError {
  constructor(cause: unknown) {
    super(`the command could not be sent to Kafka: ${cause instanceof Error ? cause.message : String(cause)}`, true, { cause });
  }
}

export interface SendCommand {
  readonly meta: CommandMeta;
  readonly type: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

/**
 * The API side of the command topics: sends a command to its aggregate's command topic (keyed by aggregate id,
 * acks=all, idempotent producer) and waits for the owner's reply on the reply topic.
 */
export function createCommandBus(deps: {
  kafka: Kafka;
  repliesTopic: string;
  instanceId: string;
  logger: Logger;
  timeoutMs?: number;
  /** Seals the personal data of a command's payload before it goes to its command topic (lib/pii.ts). */
  seal?: (commandsTopic: string, aggregateId: string, payload: SendCommand['payload']) => Promise<SendCommand['payload']>;
}) {
  const { kafka, repliesTopic, instanceId } = deps;
  const timeoutMs = deps.timeoutMs ?? 15_000;
  const logger = deps.logger.child({ component: 'command-bus', instanceId });
  const waiting = new Map<string, Array<(reply: Reply) => void>>();
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;

  // Commands sent while a produce request is in flight wait for it and then go together in one request. The
  // idempotent producer has one request in flight at a time, so one request per command queued 100 concurrent
  // commands behind each other (npm run bench: command p99 at 100 clients); an idle bus sends at once.
  let queue: Array<{ topic: string; message: Message; done: (err?: unknown) => void }> = [];
  let sending = false;
  async function flush(): Promise<void> {
    if (sending || queue.length === 0) return;
    sending = true;
    const pending = queue;
    queue = [];
    const byTopic = new Map<string, Message[]>();
    for (const p of pending) {
      const list = byTopic.get(p.topic) ?? [];
      if (list.length === 0) byTopic.set(p.topic, list);
      list.push(p.message);
    }
    try {
      await producer!.sendBatch({
        acks: -1,
        timeout: timeoutMs,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      for (const p of pending) p.done();
    } catch (err) {
      for (const p of pending) p.done(err);
    } finally {
      sending = false;
      void flush();
    }
  }
  const produce = (topic: string, message: Message) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ topic, message, done: (err) => (err === undefined ? resolve() : reject(err as Error)) });
      void flush();
    });

  return {
    instanceId,
    async start(): Promise<void> {
      producer = createProducer(kafka);
      await producer.connect();
      consumer = createConsumer(kafka, `${repliesTopic}.${instanceId}`);
      // Ready once the group is joined and a first fetch resolved the offsets: no reply to us can be missed after that.
      const ready = new Promise<void>((resolve) => {
        let joined = false;
        consumer!.on(consumer!.events.GROUP_JOIN, () => (joined = true));
        consumer!.on(consumer!.events.FETCH, () => joined && resolve());
      });
      await runConsumer(consumer, {
        topics: [repliesTopic],
        fromBeginning: false,
        logger,
        what: `${repliesTopic}.${instanceId}`,
        run: {
          autoCommit: false,
          eachMessage: async ({ message }) => {
            if (message.key?.toString() !== instanceId || !message.value) return;
            let reply: Reply;
            try {
              reply = replySchema.parse(JSON.parse(message.value.toString()));
            } catch {
              logger.warn({ offset: message.offset }, 'skipping a reply that is not one');
              return;
            }
            // One reply answers one send: requests that shared a command id (the same Idempotency-Key at once) each
            // get their own — the first the original result, the others the processor's replay of it.
            const [resolve, ...rest] = waiting.get(reply.commandId) ?? [];
            if (rest.length > 0) waiting.set(reply.commandId, rest);
            else waiting.delete(reply.commandId);
            resolve?.(reply);
          },
        },
      });
      await ready;
    },

    /** Sends the command and resolves with its reply; rejects with CommandNotSentError or CommandTimeoutError. */
    async send(topics: AggregateTopics, command: SendCommand): Promise<Reply> {
      if (!producer) throw new Error('command bus not started');
      const payload = deps.seal ? await deps.seal(topics.commands, command.meta.aggregateId, command.payload) : command.payload;
      const message: CommandMessage = { ...command.meta, type: command.type, payload, replyTo: instanceId };
      let timer: NodeJS.Timeout | undefined;
      let resolver!: (reply: Reply) => void;
      const reply = new Promise<Reply>((resolve, reject) => {
        resolver = resolve;
        timer = setTimeout(() => {
          const list = waiting.get(command.meta.commandId)?.filter((r) => r !== resolver) ?? [];
          if (list.length > 0) waiting.set(command.meta.commandId, list);
          else waiting.delete(command.meta.commandId);
          reject(new CommandTimeoutError(command.meta.commandId, timeoutMs));
        }, timeoutMs);
      });
      waiting.set(command.meta.commandId, [...(waiting.get(command.meta.commandId) ?? []), resolver]);
      const sent = produce(topics.commands, {
        key: command.meta.aggregateId,
        value: JSON.stringify(message),
        // The request's trace continues in the processor (lib/tracing.ts).
        headers: { 'reply-to': instanceId, ...traceHeaders() },
      });
      try {
        // The idempotent producer retries a failed send for as long as it takes; the reply timer bounds the wait.
        await Promise.race([sent, reply]);
        return await reply;
      } catch (err) {
        if (err instanceof CommandTimeoutError) throw err;
        const others = waiting.get(command.meta.commandId)?.filter((r) => r !== resolver) ?? [];
        if (others.length > 0) waiting.set(command.meta.commandId, others);
        else waiting.delete(command.meta.commandId);
        logger.warn({ err: (err as Error).message }, 'command not sent');
        throw new CommandNotSentError(err);
      } finally {
        clearTimeout(timer);
        sent.catch(() => undefined);
      }
    },

    async stop(): Promise<void> {
      await consumer?.disconnect();
      await producer?.disconnect();
    },
  };
}

export type CommandBus = ReturnType<typeof createCommandBus>;
