import type { Admin } from 'kafkajs';
import type { Compatibility, Registry } from './registry';
import type { EventSchema } from './schemas';
import { EVENT_TOPIC_CONFIG, subjectFor, type TopicDef } from './topics';

export interface TopicResult {
  topic: string;
  status: 'created' | 'exists';
  partitions: number;
}

/** Creates the topics that are missing (events kept forever); existing ones are left as they are. */
export async function ensureTopics(
  admin: Admin,
  names: readonly string[],
  opts: { partitions: number; replicationFactor: number },
): Promise<TopicResult[]> {
  const existing = new Set(await admin.listTopics());
  const missing = names.filter((n) => !existing.has(n));
  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: opts.partitions,
        replicationFactor: opts.replicationFactor,
        configEntries: Object.entries(EVENT_TOPIC_CONFIG).map(([name, value]) => ({ name, value })),
      })),
    });
  }
  const meta = await admin.fetchTopicMetadata({ topics: [...names] });
  return [...meta.topics]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((t) => ({
      topic: t.name,
      status: missing.includes(t.name) ? 'created' : 'exists',
      partitions: t.partitions.length,
    }));
}

/** The schemas written to a topic: those of its folder in schemas/. */
export const schemasOf = (topic: TopicDef, schemas: readonly EventSchema[]) => schemas.filter((s) => s.folder === topic.schemaDir);

export interface SchemaResult {
  subject: string;
  type: string;
  id: number;
  status: 'registered' | 'unchanged';
}

/**
 * Registers each schema under `<topic>-<record name>` with the compatibility level set on the subject.
 * Idempotent: a schema already registered keeps its id; a changed one becomes the subject's next version
 * only if the registry finds it compatible.
 */
export async function registerSchemas(
  registry: Registry,
  topic: string,
  schemas: readonly EventSchema[],
  level: Compatibility = 'BACKWARD',
): Promise<SchemaResult[]> {
  const out: SchemaResult[] = [];
  for (const s of schemas) {
    const subject = subjectFor(topic, s.fullName);
    const existing = await registry.idOf(subject, s.json).catch(() => undefined);
    if (existing !== undefined) {
      if ((await registry.compatibility(subject)) !== level) await registry.setCompatibility(subject, level);
      out.push({ subject, type: s.type, id: existing, status: 'unchanged' });
    } else {
      out.push({ subject, type: s.type, id: await registry.register(subject, s.json, level), status: 'registered' });
    }
  }
  return out;
}

export interface CompatibilityResult {
  subject: string;
  type: string;
  file: string;
  level: string;
  compatible: boolean;
  messages: string[];
}

/** Checks each schema against its subject at the subject's compatibility level, registering nothing. */
export async function checkCompatibility(registry: Registry, topic: string, schemas: readonly EventSchema[]): Promise<CompatibilityResult[]> {
  const out: CompatibilityResult[] = [];
  for (const s of schemas) {
    const subject = subjectFor(topic, s.fullName);
    const level = (await registry.compatibility(subject)) ?? 'registry default';
    const { compatible, messages } = await registry.isCompatible(subject, s.json);
    out.push({ subject, type: s.type, file: s.file, level, compatible, messages });
  }
  return out;
}
