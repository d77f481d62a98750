/**
 * The topic registry: every topic of the platform, named from one namespace (TOPIC_NAMESPACE, `cloudphone` by
 * default; tests use a random one). Topic names appear nowhere else as string literals.
 *
 * Each aggregate has an event topic (keyed by the aggregate id, so per-aggregate order = partition order, kept
 * forever) and a co-partitioned command topic (same key, same partition count) read by the aggregate's single
 * writer. Replies to commands go to one reply topic, keyed by the API instance that asked.
 */
export interface AggregateTopics {
  /** Domain events, Avro, kept forever. */
  readonly events: string;
  /** Commands for the aggregate's single writer, JSON, same partitioning as `events`. */
  readonly commands: string;
  /**
   * The single writer's snapshot changelog (lib/snapshots.ts): compacted, same partitioning, written in the
   * transaction of the events.
   */
  readonly snapshots: string;
  /** What the message key is. */
  readonly key: string;
  /** Folder under schemas/ with one .avsc per event type written to `events`. */
  readonly schemaDir: string;
}

const AGGREGATES = {
  user: { segment: 'user', key: 'userId' },
  device: { segment: 'device', key: 'deviceId' },
  order: { segment: 'order', key: 'orderId' },
  appInstall: { segment: 'app-install', key: 'installId' },
  notification: { segment: 'notification', key: 'notificationId' },
  /** Unique values (username, email) within a tenant: the single writer that makes uniqueness decidable. */
  reservation: { segment: 'reservation', key: 'reservationKey' },
} as const;

export type AggregateName = keyof typeof AGGREGATES;
export const AGGREGATE_NAMES = Object.keys(AGGREGATES) as AggregateName[];

export function topicsFor(namespace = 'cloudphone') {
  const aggregates = Object.fromEntries(
    AGGREGATE_NAMES.map((name) => {
      const { segment, key } = AGGREGATES[name];
      const t: AggregateTopics = {
        events: `${namespace}.${segment}.events`,
        commands: `${namespace}.${segment}.commands`,
        snapshots: `${namespace}.${segment}.snapshots`,
        key,
        schemaDir: segment,
      };
      return [name, t];
    }),
  ) as Record<AggregateName, AggregateTopics>;
  return {
    namespace,
    ...aggregates,
    /** Replies of the command processors, keyed by the id of the API instance waiting for them. */
    replies: `${namespace}.command-replies`,
    /** Events a projection could not decode or apply, with the error and source in headers. */
    deadLetters: `${namespace}.dead-letters`,
    /** Commands a processor refused as poison (unparsable, unknown, unencodable, too large), with the error and source in headers. */
    commandDeadLetters: `${namespace}.command-dead-letters`,
    /** Where `npm start` sends its smoke round trip (user.created events that belong to no real user). */
    smoke: { events: `${namespace}.smoke`, commands: '', snapshots: '', key: 'userId', schemaDir: 'user' } as AggregateTopics,
  };
}

export type Topics = ReturnType<typeof topicsFor>;

/** Every event topic with the schemas written to it. */
export const eventTopics = (t: Topics): AggregateTopics[] => [...AGGREGATE_NAMES.map((n) => t[n]), t.smoke];

/**
 * Topic configs: events are kept forever; commands a week; replies an hour (a reply nobody reads within that is
 * moot). Snapshots are compacted, never deleted: only the latest value of each key counts, so the cleaner may drop
 * an older one at once (no minimum lag); segments roll at 16 MiB or an hour (the cleaner never touches the active
 * one) and a partition is cleaned once 30 % of it is superseded, at the latest a day after a write — a restore
 * reads at most about 1.4 × the live snapshots, plus the active segment.
 */
export const TOPIC_CONFIG = {
  snapshots: {
    'cleanup.policy': 'compact',
    'retention.ms': '-1',
    'min.compaction.lag.ms': '0',
    'max.compaction.lag.ms': String(24 * 3600 * 1000),
    'min.cleanable.dirty.ratio': '0.3',
    'segment.bytes': String(16 * 1024 * 1024),
    'segment.ms': String(3600 * 1000),
  },
  events: { 'retention.ms': '-1', 'cleanup.policy': 'delete' },
  commands: { 'retention.ms': String(7 * 24 * 3600 * 1000), 'cleanup.policy': 'delete' },
  replies: { 'retention.ms': String(3600 * 1000), 'cleanup.policy': 'delete' },
} as const;

/** One subject per event type per topic (Confluent's TopicRecordNameStrategy): `<topic>-<record full name>`. */
export const subjectFor = (topic: string, recordFullName: string) => `${topic}-${recordFullName}`;
