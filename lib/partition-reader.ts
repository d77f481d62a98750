import { AssignerProtocol, type Kafka, type KafkaMessage, type PartitionAssigner } from 'kafkajs';
import { createConsumer } from './kafka';
import type { Logger } from './logger';

/** Offsets `from` (included) to `to` (excluded) of one partition. */
export interface OffsetRange {
  readonly from: bigint;
  readonly to: bigint;
}

/**
 * An assigner that gives the group's (single) member exactly these partitions of the topic: kafkajs has no
 * manual assignment, and a group of one member with this assigner reads only what it is asked to read.
 */
const only =
  (topic: string, partitions: readonly number[]): PartitionAssigner =>
  () => ({
    name: 'CloudPhoneOnly',
    version: 1,
    async assign({ members }) {
      return members.map(({ memberId }, i) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: i === 0 ? { [topic]: [...partitions] } : {},
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name: 'CloudPhoneOnly',
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }),
      };
    },
  });

/**
 * Reads the given offset ranges of some partitions of a topic, read_committed, and returns once every range is
 * read to its end (transaction markers and aborted records count as read). `group` must be a group nobody else
 * uses; it commits nothing. There is no time limit on the whole read — it takes what the ranges hold — but a
 * read that makes no progress for `stallMs` fails (the caller retries it).
 */
export async function readPartitions(
  kafka: Kafka,
  opts: {
    group: string;
    topic: string;
    ranges: ReadonlyMap<number, OffsetRange>;
    logger: Logger;
    eachBatch: (partition: number, messages: readonly KafkaMessage[]) => Promise<void> | void;
    stallMs?: number;
    /** Stops the read (it rejects with the signal's AbortError). */
    signal?: AbortSignal;
  },
): Promise<void> {
  opts.signal?.throwIfAborted();
  const ranges = new Map([...opts.ranges].filter(([, r]) => r.to > r.from));
  if (ranges.size === 0) return;
  const position = new Map([...ranges].map(([p, r]) => [p, r.from]));
  const finished = () => [...ranges].every(([p, r]) => position.get(p)! >= r.to);
  const consumer = createConsumer(kafka, opts.group, {
    partitionAssigners: [only(opts.topic, [...ranges.keys()])],
    maxWaitTimeInMs: 100,
  });
  let progressAt = Date.now();
  let settle!: (err?: Error) => void;
  const done = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
  done.catch(() => undefined); // awaited below; settled early (an abort during connect) it must not count as unhandled
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const [partition, r] of ranges) consumer.seek({ topic: opts.topic, partition, offset: r.from.toString() });
  });
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const next = BigInt(payload.lastOffset) + 1n;
    if (next > (position.get(payload.partition) ?? 0n)) position.set(payload.partition, next);
    progressAt = Date.now();
    if (finished()) settle();
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) settle(payload.error);
  });
  const abort = () => settle(opts.signal!.reason as Error);
  opts.signal?.addEventListener('abort', abort, { once: true });
  const stallMs = opts.stallMs ?? 60_000;
  const watchdog = setInterval(() => {
    if (Date.now() - progressAt > stallMs) settle(new Error(`reading ${opts.topic} made no progress for ${stallMs} ms`));
  }, 1000);
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: opts.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const r = ranges.get(batch.partition);
        if (!r || opts.signal?.aborted) return;
        const wanted = batch.messages.filter((m) => {
          const o = BigInt(m.offset);
          return o >= r.from && o < r.to;
        });
        if (wanted.length > 0) await opts.eachBatch(batch.partition, wanted);
      },
    });
    await done;
  } finally {
    clearInterval(watchdog);
    opts.signal?.removeEventListener('abort', abort);
    await consumer
      .disconnect()
      .catch((err: Error) => opts.logger.warn({ err: err.message, group: opts.group }, 'partition reader did not disconnect'));
  }
}
