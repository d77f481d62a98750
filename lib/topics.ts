/**
 * Every topic of the platform, with its key and the folder of schemas/ that holds the Avro schemas
 * of its events. Topic names appear nowhere else as string literals.
 */
export interface TopicDef {
  readonly name: string;
  /** What the message key is: the id of the aggregate, so per-aggregate order = partition order. */
  readonly key: string;
  /** Folder under schemas/ with one .avsc per event type written to this topic. */
  readonly schemaDir: string;
}

export const TOPICS = {
  user: { name: 'cloudphone.user.events', key: 'userId', schemaDir: 'user' },
  device: { name: 'cloudphone.device.events', key: 'deviceId', schemaDir: 'device' },
  order: { name: 'cloudphone.order.events', key: 'orderId', schemaDir: 'order' },
  appInstall: { name: 'cloudphone.app-install.events', key: 'installId', schemaDir: 'app-install' },
  notification: { name: 'cloudphone.notification.events', key: 'notificationId', schemaDir: 'notification' },
} as const satisfies Record<string, TopicDef>;

export type AggregateName = keyof typeof TOPICS;
export const AGGREGATE_TOPICS: readonly TopicDef[] = Object.values(TOPICS);

/** Topic config of every event topic: events are kept forever. */
export const EVENT_TOPIC_CONFIG = { 'retention.ms': '-1', 'cleanup.policy': 'delete' } as const;

/** One subject per event type per topic (Confluent's TopicRecordNameStrategy): `<topic>-<record full name>`. */
export const subjectFor = (topic: string, recordFullName: string) => `${topic}-${recordFullName}`;

/** Where `npm start` sends its smoke round trip (a user.created that belongs to no real user). */
export const SMOKE_TOPIC: TopicDef = { name: 'cloudphone.smoke', key: 'userId', schemaDir: 'user' };
