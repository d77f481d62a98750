import type { Admin, Kafka } from 'kafkajs';
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

/** The key of a topic partition in maps of positions: `topic/partition`. */
export const partitionKey = (topic: string, partition: number) => `${topic}/${partition}`;

/** Where a partition ends now: the offset the next record will get (its high watermark). */
export interface PartitionEnd {
  readonly topic: string;
  readonly partition: number;
  readonly end: number;
}

/**
 * The end of every partition of `topics`, keyed by `partitionKey`: what "caught up" is measured against. Offsets
 * stay far below 2^53 (a million records a second for 285 years), so they are numbers. One topic at a time: kafkajs'
 * fetchTopicOffsets adds its topic to the client's metadata and refreshes it, and concurrent calls on a fresh
 * client can miss their topic's metadata (a TypeError inside kafkajs; seen on the three-node cluster).
 */
export async function endOffsets(admin: Admin, topics: readonly string[]): Promise<Map<string, PartitionEnd>> {
  const ends = new Map<string, PartitionEnd>();
  for (const topic of topics) {
    for (const o of await admin.fetchTopicOffsets(topic)) {
      ends.set(partitionKey(topic, o.partition), { topic, partition: o.partition, end: Number(o.high) });
    }
  }
  return ends;
}
