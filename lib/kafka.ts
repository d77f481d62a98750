import {
  Kafka,
  logLevel,
  Partitioners,
  type Consumer,
  type IHeaders,
  type ConsumerConfig,
  type ConsumerRunConfig,
  type Producer,
  type ProducerConfig,
} from 'kafkajs';
import type { Config } from './config';
import { kafkaLogCreator, type Logger } from './logger';
import { passwordFile } from './secret-file';

/**
 * Who talks to Kafka. Each component has its own SASL/SCRAM principal, allowed the least it needs by the ACLs
 * that bootstrap grants per namespace (lib/acls.ts); only `admin` creates and deletes topics and grants ACLs.
 */
export const PRINCIPALS = ['admin', 'api', 'commands', 'policies', 'projections', 'tools'] as const;
export type Principal = (typeof PRINCIPALS)[number];

/** A principal's user name on the broker (the ACLs name it as `User:<name>`). */
export const usernameOf = (p: Principal) => `cloudphone-${p}`;

/** Each principal's SCRAM password. */
export type KafkaCredentials = Record<Principal, string>;

/**
 * The SCRAM passwords of the principals, from KAFKA_CREDENTIALS_FILE. On the local stack the file is made once
 * (random passwords, mode 0600) in `.stack/kafka/` and the broker's storage is formatted with them; in production
 * each deployment is given a file with its own principal(s).
 */
export function kafkaCredentials(file: string, opts: { make?: boolean } = {}): KafkaCredentials {
  const all = passwordFile(file, PRINCIPALS, opts);
  if (!all) throw new Error(`no Kafka credentials at ${file} (KAFKA_CREDENTIALS_FILE): run npm run stack -- up`);
  return all as KafkaCredentials;
}

const credentialsCache = new Map<string, KafkaCredentials>();

/** The kafkajs SASL option of a principal (undefined when KAFKA_AUTH=none). */
export function saslFor(cfg: Config, principal: Principal) {
  if (cfg.kafka.auth === 'none') return undefined;
  const file = cfg.kafka.credentialsFile;
  let all = credentialsCache.get(file);
  if (!all) credentialsCache.set(file, (all = kafkaCredentials(file)));
  const password = all[principal];
  if (!password) throw new Error(`no Kafka password for ${principal} in ${file} (KAFKA_CREDENTIALS_FILE)`);
  return { mechanism: 'scram-sha-512' as const, username: usernameOf(principal), password };
}

export function createKafka(cfg: Config, logger: Logger, principal: Principal, clientId = cfg.kafka.clientId): Kafka {
  return new Kafka({
    clientId,
    brokers: cfg.kafka.brokers,
    sasl: saslFor(cfg, principal),
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(logger),
    retry: { initialRetryTime: 100, retries: 8 },
  });
}

/**
 * Producers are idempotent (so acks=all on every send) and keep retrying a failed send, as exactly-once
 * requires; callers bound how long they wait. Keys are partitioned with the Java client's murmur2.
 */
/** The partition a key goes to among `partitions` (the producers' partitioner: the Java client's murmur2). */
export function partitionOf(key: string, partitions: number): number {
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
  }));
  return PARTITIONER({ topic: '', partitionMetadata, message: { key, value: null } });
}
const PARTITIONER = Partitioners.DefaultPartitioner();

export function createProducer(kafka: Kafka, extra: ProducerConfig = {}): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 2000 },
    ...extra,
  });
}

/**
 * Consumers: no topic auto-creation, a short session (a crashed member is replaced within ~10 s instead of
 * Kafka's 45 s default). A fetch is a long poll: the broker answers as soon as a record is there, so the fetch
 * wait adds no latency — it only bounds how often an idle consumer asks again (and how soon it notices a
 * rebalance). At 20–100 ms, the platform's ~20 idle consumers took 30% of a core of an idle process; at 500 ms,
 * 14% (--cpu-prof of an idle platform process, 2 cores).
 */
export function createConsumer(kafka: Kafka, groupId: string, extra: Partial<ConsumerConfig> = {}): Consumer {
  return kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    sessionTimeout: 10_000,
    rebalanceTimeout: 20_000,
    heartbeatInterval: 1_000,
    maxWaitTimeInMs: 500,
    ...extra,
  });
}

/**
 * Connects, subscribes and runs a long-lived consumer, and keeps it running. kafkajs restarts a consumer after a
 * crash it deems retriable and gives up on any other — e.g. "Failed to find group coordinator" when a broker
 * that was stalled past every timeout comes back (the fault suite's broker stall) — which left the process up
 * with a consumer that read nothing, and its partitions answered by no one. Such a consumer is started again here
 * (after 1 s, doubling up to 30 s while it fails), until the owner disconnects it.
 */
export async function runConsumer(
  consumer: Consumer,
  opts: { topics: readonly string[]; fromBeginning: boolean; run: ConsumerRunConfig; logger: Logger; what: string },
): Promise<void> {
  let stopped = false;
  const disconnect = consumer.disconnect.bind(consumer);
  consumer.disconnect = async () => {
    stopped = true;
    await disconnect();
  };
  const start = async () => {
    await consumer.connect();
    for (const topic of opts.topics) await consumer.subscribe({ topic, fromBeginning: opts.fromBeginning });
    await consumer.run(opts.run);
  };
  const again = (attempt: number) =>
    setTimeout(
      () => {
        if (stopped) return;
        start().then(
          () => opts.logger.warn({ consumer: opts.what, attempt }, 'consumer running again'),
          (err: Error) => {
            opts.logger.error({ consumer: opts.what, attempt, err: err.message }, 'consumer could not start again; retrying');
            again(attempt + 1);
          },
        );
      },
      Math.min(30_000, 1000 * 2 ** attempt),
    );
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart || stopped) return;
    opts.logger.error({ consumer: opts.what, err: payload.error.message }, 'consumer crashed and kafkajs gave up on it: starting it again');
    again(0);
  });
  await start();
}

/** A message's headers as text (the first value of a repeated header; Buffers decoded as UTF-8). */
export function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = first.toString();
  }
  return out;
}

/** One header of a message as text, if it has it. */
export const headerValue = (headers: IHeaders | undefined, name: string): string | undefined => {
  const v = headers?.[name];
  return (Array.isArray(v) ? v[0] : v)?.toString();
};
