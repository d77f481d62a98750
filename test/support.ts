import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { ensureTopics } from '../lib/bootstrap';
import type { CommandMeta } from '../lib/decider';
import { loadConfig } from '../lib/config';
import { vaultFor } from '../lib/pii';
import { createEventLog, type DecodedRecord } from '../lib/event-log';
import { createConsumer, createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { createRegistry } from '../lib/registry';
import { TOPIC_CONFIG } from '../lib/topics';
import { waitFor } from '../lib/wait';

export { waitFor } from '../lib/wait';

/** The metadata of a command sent straight through the bus (no HTTP): fresh ids, tenant t1, now. */
export const commandMetaFor = (aggregateId: string, over: Partial<CommandMeta> = {}): CommandMeta => ({
  commandId: randomUUID(),
  aggregateId,
  tenantId: 't1',
  correlationId: randomUUID(),
  causationId: null,
  now: Date.now(),
  ...over,
});

/** A name no other test run uses: tests make their own topics, groups and subjects. */
export const unique = (prefix: string) => `${prefix}.${randomUUID().slice(0, 8)}`;

/** Everything an integration test needs to talk to the real local stack. */
export function integration() {
  const cfg = loadConfig();
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'fatal', 'test');
  const kafka: Kafka = createKafka(cfg, logger, 'admin', unique('test'));
  const registry = createRegistry(cfg, 'writer');
  const vault = vaultFor(cfg);
  const eventLog = createEventLog(registry, undefined, { vault });
  let admin: Admin | undefined;
  const getAdmin = async () => {
    if (!admin) {
      admin = kafka.admin();
      await admin.connect();
    }
    return admin;
  };
  async function readRawAll(
    topic: string,
    opts: { readUncommitted?: boolean } = {},
  ): Promise<Array<{ partition: number; message: KafkaMessage }>> {
    const ends = await (await getAdmin()).fetchTopicOffsets(topic);
    const target = new Map(ends.map((o) => [o.partition, BigInt(o.high)]));
    const consumer = createConsumer(kafka, unique('test-read-all'), { readUncommitted: opts.readUncommitted ?? false });
    const position = new Map<number, bigint>();
    const out: Array<{ partition: number; message: KafkaMessage }> = [];
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => position.set(payload.partition, BigInt(payload.lastOffset) + 1n));
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) out.push({ partition: batch.partition, message });
        },
      });
      await waitFor(() => ([...target].every(([p, end]) => end === 0n || (position.get(p) ?? 0n) >= end) ? true : undefined), {
        what: `the end of ${topic}`,
      });
      return out;
    } finally {
      await consumer.disconnect();
    }
  }
  return {
    cfg,
    logger,
    kafka,
    registry,
    eventLog,
    admin: getAdmin,
    /** Creates a fresh topic with a random suffix. */
    topic: async (prefix: string, partitions = 3): Promise<string> => {
      const name = unique(`test.${prefix}`);
      await ensureTopics(await getAdmin(), [{ name, config: TOPIC_CONFIG.events }], { partitions, replicationFactor: 1 });
      return name;
    },
    /** Reads the first `count` raw messages of a topic from the beginning, with a fresh consumer group. */
    readRaw: async (topic: string, count: number): Promise<Array<{ partition: number; message: KafkaMessage }>> => {
      const consumer = createConsumer(kafka, unique('test-reader'));
      const got: Array<{ partition: number; message: KafkaMessage }> = [];
      await consumer.connect();
      try {
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({ eachMessage: async ({ partition, message }) => void got.push({ partition, message }) });
        await waitFor(() => (got.length >= count ? true : undefined), { what: `${count} messages on ${topic}` });
        return got;
      } finally {
        await consumer.disconnect();
      }
    },
    /** Every record of a topic as it is (no decoding), read up to the end offsets it had when called (read_committed unless told). */
    readRawAll,
    /**
     * Every decodable record of a topic, read up to the end offsets it had when called: read_committed, or with
     * `readUncommitted` every record written, those of aborted transactions included.
     */
    readAll: async (topic: string, opts: { readUncommitted?: boolean } = {}): Promise<DecodedRecord[]> => {
      const out: DecodedRecord[] = [];
      // Undecodable records (a dead-letter topic holds some) are left out.
      for (const { partition, message } of await readRawAll(topic, opts)) {
        await eventLog.decodeMessage(topic, partition, message).then(
          (r) => out.push(r),
          () => undefined,
        );
      }
      return out;
    },
    endOffsets: async (topic: string) => (await getAdmin()).fetchTopicOffsets(topic),
    /** The data keys of the personal data in events (lib/pii.ts), in the stack's database. */
    vault,
    close: async () => {
      await admin?.disconnect();
      await vault.close();
    },
  };
}
