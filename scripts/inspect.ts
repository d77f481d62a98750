import { Command, InvalidArgumentError } from 'commander';
import type { KafkaMessage } from 'kafkajs';
import { loadConfig } from '../lib/config';
import { vaultFor } from '../lib/pii';
import { createEventLog } from '../lib/event-log';
import { toolsGroup } from '../lib/acls';
import { createConsumer, createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { createRegistry } from '../lib/registry';
import { WATERMARK_KEY } from '../lib/snapshots';
import { AGGREGATE_NAMES, topicsFor, type AggregateName } from '../lib/topics';

/**
 * `npm run inspect -- <topic>`: prints a topic's records decoded through the registry — partition, offset,
 * timestamp, key, headers, schema id with its subject and version, event type and payload. A record that
 * cannot be decoded is shown as hex, never a crash.
 */
const int = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} is a whole number`);
  return Number(v);
};

interface Options {
  fromBeginning?: boolean;
  partition?: number;
  offset?: number;
  key?: string;
  type?: string;
  limit?: number;
  follow?: boolean;
  json?: boolean;
}

const program = new Command('inspect')
  .description('print a topic’s events decoded through the schema registry')
  .argument(
    '<topic>',
    `a topic name, or an aggregate: ${AGGREGATE_NAMES.join(', ')} (its events), <aggregate>:snapshots (its writer's snapshots), dead-letters, replies`,
  )
  .option('--from-beginning', 'start at the first record (default: only what arrives from now, with --follow)')
  .option('--partition <n>', 'only this partition', int('--partition'))
  .option('--offset <n>', 'start at this offset (in every partition read)', int('--offset'))
  .option('--key <key>', 'only records with this key (an aggregate id)')
  .option('--type <type>', 'only events of this type, e.g. device.started')
  .option('--limit <n>', 'stop after this many records', int('--limit'))
  .option('--follow', 'keep printing new records until Ctrl-C')
  .option('--json', 'one JSON object per line (for jq)')
  .action(run);

function resolveTopic(arg: string, namespace: string): string {
  const t = topicsFor(namespace);
  if ((AGGREGATE_NAMES as string[]).includes(arg)) return t[arg as AggregateName].events;
  const [aggregate, kind] = arg.split(':');
  if (kind === 'snapshots' && (AGGREGATE_NAMES as string[]).includes(aggregate!)) return t[aggregate as AggregateName].snapshots;
  if (arg === 'dead-letters') return t.deadLetters;
  if (arg === 'replies') return t.replies;
  return arg;
}

async function run(topicArg: string, o: Options): Promise<void> {
  const cfg = loadConfig();
  const topic = resolveTopic(topicArg, cfg.topics.namespace);
  const kafka = createKafka(cfg, createLogger('fatal', 'inspect'), 'tools', 'inspect');
  const registry = createRegistry(cfg, 'reader');
  const vault = vaultFor(cfg);
  const eventLog = createEventLog(registry, undefined, { vault });
  const admin = kafka.admin();
  await admin.connect();
  const topics = await admin.listTopics();
  if (!topics.includes(topic)) {
    await admin.disconnect();
    await vault.close();
    throw new InvalidArgumentError(
      `no topic "${topic}"; topics: ${topics
        .filter((x) => !x.startsWith('__'))
        .sort()
        .join(', ')}`,
    );
  }
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  await admin.disconnect();
  if (o.partition !== undefined && !ends.has(o.partition)) throw new InvalidArgumentError(`${topic} has no partition ${o.partition}`);

  const subjects = new Map<number, Promise<string>>();
  const subjectOf = (id: number) => {
    if (!subjects.has(id)) {
      subjects.set(
        id,
        fetch(`${registry.url}/schemas/ids/${id}/versions`, {
          headers: registry.authorization ? { Authorization: registry.authorization } : {},
        })
          .then((r) => r.json() as Promise<Array<{ subject: string; version: number }>>)
          // The same schema may serve several topics: name the subject of this one.
          .then(
            (vs) =>
              vs
                .filter((v) => v.subject.startsWith(`${topic}-`))
                .map((v) => `${v.subject} v${v.version}`)
                .join(', ') || 'no subject of this topic',
          )
          .catch(() => 'unknown subject'),
      );
    }
    return subjects.get(id)!;
  };

  const snapshots = topic.endsWith('.snapshots');
  const consumer = createConsumer(kafka, toolsGroup(cfg.topics.namespace, 'inspect'), { maxWaitTimeInMs: 200 });
  const position = new Map<number, bigint>();
  let printed = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const wanted = (p: number) => o.partition === undefined || o.partition === p;
  const caughtUp = () => [...ends].filter(([p]) => wanted(p)).every(([p, end]) => end === 0n || (position.get(p) ?? 0n) >= end);

  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    position.set(payload.partition, BigInt(payload.lastOffset) + 1n);
    if (!o.follow && caughtUp()) finish();
  });
  consumer.on(consumer.events.GROUP_JOIN, () => {
    if (o.offset === undefined) return;
    for (const p of ends.keys()) if (wanted(p)) consumer.seek({ topic, partition: p, offset: String(o.offset) });
  });

  const show = async (partition: number, m: KafkaMessage) => {
    const headers = Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(Array.isArray(v) ? v[0] : v)]));
    const base = {
      topic,
      partition,
      offset: m.offset,
      timestamp: new Date(Number(m.timestamp)).toISOString(),
      key: m.key?.toString() ?? null,
      headers,
    };
    if (snapshots) {
      // A snapshot changelog holds JSON (lib/snapshots.ts): each aggregate's state, version and remembered commands.
      let value: unknown;
      try {
        value = JSON.parse(m.value?.toString('utf8') ?? 'null');
      } catch {
        value = { undecodable: 'not JSON', hex: m.value?.toString('hex').slice(0, 400) };
      }
      if (o.json) console.log(JSON.stringify({ ...base, snapshot: value }));
      else {
        const v = (value ?? {}) as Record<string, unknown>;
        const what =
          base.key === WATERMARK_KEY ? `watermark at event offset ${String(v.offset)}` : `v${String(v.version)} ${JSON.stringify(v.state)}`;
        console.log(`${topic}[${partition}]@${m.offset} ${base.timestamp} key=${base.key} fingerprint=${String(v.fingerprint)}`);
        console.log(`  ${what}`);
        if (Array.isArray(v.applied)) console.log(`  remembers ${v.applied.length} command(s); last event at offset ${String(v.offset)}`);
      }
      return true;
    }
    try {
      const r = await eventLog.decodeMessage(topic, partition, m);
      if (o.type && r.event.type !== o.type) return false;
      const subject = await subjectOf(r.schemaId);
      if (o.json) console.log(JSON.stringify({ ...base, schemaId: r.schemaId, subject, type: r.event.type, event: r.event }));
      else {
        console.log(`${topic}[${partition}]@${m.offset} ${base.timestamp} key=${base.key} schema=${r.schemaId} (${subject})`);
        console.log(`  ${r.event.type} v${r.event.aggregateVersion} ${JSON.stringify(r.event)}`);
        console.log(
          `  headers ${Object.entries(headers)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`,
        );
      }
    } catch (err) {
      if (o.type) return false;
      const hex = m.value?.toString('hex') ?? '';
      if (o.json) console.log(JSON.stringify({ ...base, undecodable: (err as Error).message, hex }));
      else {
        console.log(`${topic}[${partition}]@${m.offset} ${base.timestamp} key=${base.key} UNDECODABLE: ${(err as Error).message}`);
        console.log(`  hex ${hex.length > 400 ? `${hex.slice(0, 400)}… (${hex.length / 2} bytes)` : hex}`);
      }
    }
    return true;
  };

  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: Boolean(o.fromBeginning) || o.offset !== undefined });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      if (!wanted(partition) || (o.key !== undefined && message.key?.toString() !== o.key)) return;
      if (o.limit !== undefined && printed >= o.limit) return finish();
      if (await show(partition, message)) printed++;
      if (o.limit !== undefined && printed >= o.limit) finish();
    },
  });
  if (!o.follow && !o.fromBeginning && o.offset === undefined) finish(); // nothing asked for from the past
  if (!o.follow && caughtUp()) finish();
  process.once('SIGINT', finish);
  await finished;
  await consumer.disconnect();
  await vault.close();
  if (!o.json) console.error(`${printed} record(s)`);
}

program.parseAsync().catch((err: unknown) => {
  console.error(`inspect: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
