import type { Admin } from 'kafkajs';
import { dropAcls, ensureAcls } from './acls';
import { minInsyncFor } from './config';
import type { Compatibility, Registry } from './registry';
import { waitFor } from './wait';
import type { EventSchema } from './schemas';
import { eventTopics, subjectFor, TOPIC_CONFIG, type AggregateTopics, type Topics } from './topics';

export interface TopicSpec {
  name: string;
  config: Readonly<Record<string, string>>;
}

export interface TopicResult {
  topic: string;
  status: 'created' | 'exists';
  partitions: number;
}

/** Every topic of a namespace with its config: event topics, their co-partitioned command and snapshot topics, the reply topic. */
export function topicSpecs(topics: Topics): TopicSpec[] {
  const specs: TopicSpec[] = [
    { name: topics.replies, config: TOPIC_CONFIG.replies },
    { name: topics.deadLetters, config: TOPIC_CONFIG.events },
    { name: topics.commandDeadLetters, config: TOPIC_CONFIG.events },
  ];
  for (const t of eventTopics(topics)) {
    specs.push({ name: t.events, config: TOPIC_CONFIG.events });
    if (t.commands) specs.push({ name: t.commands, config: TOPIC_CONFIG.commands });
    if (t.snapshots) specs.push({ name: t.snapshots, config: TOPIC_CONFIG.snapshots });
  }
  return specs;
}

/** How a namespace's topics are made: partitions, replicas, and the in-sync replicas an acks=all write needs. */
export interface TopicLayout {
  partitions: number;
  replicationFactor: number;
  /** Default: lib/config.ts minInsyncFor(replicationFactor). */
  minInsyncReplicas?: number;
}

/**
 * Creates the topics that are missing; existing ones are left as they are. Every topic refuses unclean leader
 * election (a replica that missed acknowledged writes never becomes leader) and takes writes only when
 * `minInsyncReplicas` replicas have them.
 */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[], opts: TopicLayout): Promise<TopicResult[]> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.name));
  if (missing.length > 0) {
    // kafkajs's own wait for leaders gives up on the first "This server does not host this topic-partition",
    // which a just-created topic answers until the broker's metadata has it: wait below instead.
    await admin.createTopics({
      waitForLeaders: false,
      topics: missing.map((s) => ({
        topic: s.name,
        numPartitions: opts.partitions,
        replicationFactor: opts.replicationFactor,
        configEntries: Object.entries({
          ...s.config,
          'min.insync.replicas': String(opts.minInsyncReplicas ?? minInsyncFor(opts.replicationFactor)),
          'unclean.leader.election.enable': 'false',
        }).map(([name, value]) => ({ name, value })),
      })),
    });
  }
  const names = specs.map((s) => s.name);
  const meta = await waitFor(
    async () => {
      const m = await admin.fetchTopicMetadata({ topics: names });
      return m.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)) ? m : undefined;
    },
    { what: `leaders for ${missing.length} new topic(s)`, timeoutMs: 60_000, intervalMs: 100 },
  );
  return [...meta.topics]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((t) => ({
      topic: t.name,
      status: missing.some((m) => m.name === t.name) ? 'created' : 'exists',
      partitions: t.partitions.length,
    }));
}

/** The schemas written to an event topic: those of its folder in schemas/. */
export const schemasOf = (topic: AggregateTopics, schemas: readonly EventSchema[]) => schemas.filter((s) => s.folder === topic.schemaDir);

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

/** Creates every topic of the namespace, grants each component's principal what it needs (lib/acls.ts), and registers every event schema on its topic. Idempotent. */
export async function bootstrapNamespace(
  deps: { admin: Admin; registry: Registry; schemas: readonly EventSchema[] },
  topics: Topics,
  opts: TopicLayout,
): Promise<{ topics: TopicResult[]; acls: number; schemas: SchemaResult[] }> {
  const topicResults = await ensureTopics(deps.admin, topicSpecs(topics), opts);
  const acls = await ensureAcls(deps.admin, topics);
  const schemaResults: SchemaResult[] = [];
  for (const t of eventTopics(topics)) schemaResults.push(...(await registerSchemas(deps.registry, t.events, schemasOf(t, deps.schemas))));
  return { topics: topicResults, acls, schemas: schemaResults };
}

/** Deletes a namespace's topics, ACLs and subjects (tests clean up after themselves with it). */
export async function dropNamespace(
  deps: { admin: Admin; registry: Registry; schemas: readonly EventSchema[] },
  topics: Topics,
): Promise<void> {
  const names = topicSpecs(topics).map((s) => s.name);
  const existing = new Set(await deps.admin.listTopics());
  await deps.admin.deleteTopics({ topics: names.filter((n) => existing.has(n)) });
  await dropAcls(deps.admin, topics);
  for (const t of eventTopics(topics)) {
    for (const s of schemasOf(t, deps.schemas)) await deps.registry.deleteSubject(subjectFor(t.events, s.fullName));
  }
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
export async function checkCompatibility(
  registry: Registry,
  topic: string,
  schemas: readonly EventSchema[],
): Promise<CompatibilityResult[]> {
  const out: CompatibilityResult[] = [];
  for (const s of schemas) {
    const subject = subjectFor(topic, s.fullName);
    const level = (await registry.compatibility(subject)) ?? 'registry default';
    const { compatible, messages } = await registry.isCompatible(subject, s.json);
    out.push({ subject, type: s.type, file: s.file, level, compatible, messages });
  }
  return out;
}
