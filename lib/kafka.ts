import { Kafka, logLevel, type Producer, type ProducerConfig } from 'kafkajs';
import type { Config } from './config';
import { kafkaLogCreator, type Logger } from './logger';

export function createKafka(cfg: Config, logger: Logger, clientId = cfg.kafka.clientId): Kafka {
  return new Kafka({
    clientId,
    brokers: cfg.kafka.brokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(logger),
    retry: { initialRetryTime: 100, retries: 8 },
  });
}

/** Producers always wait for every in-sync replica and are idempotent. */
export function createProducer(kafka: Kafka, extra: ProducerConfig = {}): Producer {
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, ...extra });
}
