import type { Kafka } from 'kafkajs';
import type { DecodedRecord, EventLog } from './event-log';
import { createConsumer } from './kafka';

/**
 * Reads up to `limit` records of one partition starting at `offset`, decoded through the registry.
 * Uses a throw-away consumer group (`group`, e.g. lib/acls.ts `toolsGroup`) that commits nothing, so it disturbs
 * no other reader.
 */
export async function readPartition(
  kafka: Kafka,
  eventLog: EventLog,
  opts: { topic: string; partition: number; offset: string; limit: number; group: string; timeoutMs?: number },
): Promise<DecodedRecord[]> {
  const consumer = createConsumer(kafka, opts.group);
  const out: DecodedRecord[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: opts.topic, fromBeginning: true });
    consumer.on(consumer.events.GROUP_JOIN, () => consumer.seek({ topic: opts.topic, partition: opts.partition, offset: opts.offset }));
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (partition !== opts.partition || BigInt(message.offset) < BigInt(opts.offset) || out.length >= opts.limit) return;
        out.push(await eventLog.decodeMessage(opts.topic, partition, message));
        if (out.length >= opts.limit) done();
      },
    });
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, opts.timeoutMs ?? 30_000).unref());
    await Promise.race([finished, timeout]);
    return out;
  } finally {
    await consumer.disconnect();
  }
}
