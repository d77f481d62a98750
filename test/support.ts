import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { ensureTopics } from '../lib/bootstrap';
import { loadConfig } from '../lib/config';
import { createEventLog } from '../lib/event-log';
import { createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { createRegistry } from '../lib/registry';
import { TOPIC_CONFIG } from '../lib/topics';
import { waitFor } from '../lib/wait';

export { waitFor } from '../lib/wait';

/** A name no other test run uses: tests make their own topics, groups and subjects. */
export const unique = (prefix: string) => `${prefix}.${randomUUID().slice(0, 8)}`;

/** Everything an integration test needs to talk to the real local stack. */
export function integration() {
  const cfg = loadConfig();
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'fatal', 'test');
  const kafka: Kafka = createKafka(cfg, logger, unique('test'));
  const registry = createRegistry(cfg.registry.url);
  const eventLog = createEventLog(registry);
  let admin: Admin | undefined;
  const getAdmin = async () => {
    if (!admin) {
      admin = kafka.admin();
      await admin.connect();
    }
    return admin;
  };
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
      const consumer = kafka.consumer({ groupId: unique('test-reader') });
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
    endOffsets: async (topic: string) => (await getAdmin()).fetchTopicOffsets(topic),
    close: async () => {
      await admin?.disconnect();
    },
  };
}
