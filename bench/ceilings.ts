import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Koa from 'koa';
import type { Admin, Kafka, Message } from 'kafkajs';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { ensureTopics } from '../lib/bootstrap';
import type { Db } from '../lib/db';
import type { EventLog } from '../lib/event-log';
import { createConsumer, createProducer } from '../lib/kafka';
import { retrying } from './platform';
import { TOPIC_CONFIG, type Topics } from '../lib/topics';
import { endOffsets } from '../lib/topic-reader';
import type { Latency, Load } from './results';
import { generateChunk, seededTopics } from './seed';
import { percentiles, rate, runLoad, seconds } from './stats';
import { sleep } from '../lib/wait';

/**
 * The machine's ceilings, measured in the same run as the platform: what Kafka, the registry client, PostgreSQL
 * and Koa do with nothing of the platform in the way.
 */

/** L1: sendBatch of pre-encoded events (acks=all, the platform's idempotent producer), single-event send latency
 *  at 1/10/100 concurrent senders, and the produce→consume round trip of one ping. */
export async function l1(
  deps: { kafka: Kafka; admin: Admin; eventLog: EventLog },
  seeded: Topics,
  scratch: Topics,
  opts: { events: number; seconds: number; pings: number },
) {
  const bulk = scratch.device.events;
  const ping = scratch.user.events;
  await retrying(() => ensureTopics(deps.admin, [{ name: bulk, config: TOPIC_CONFIG.events }], { partitions: 6, replicationFactor: 1 }));
  await retrying(() => ensureTopics(deps.admin, [{ name: ping, config: TOPIC_CONFIG.events }], { partitions: 1, replicationFactor: 1 }));
  // Pre-encoded: the first chunk of the seed's events, encoded once.
  const encoded: Message[] = [];
  for (const s of generateChunk(seeded, 0)) for (const e of s.events) encoded.push(await deps.eventLog.toMessage(s.topic, e));
  const bytes = (m: Message) => (m.value as Buffer).length + String(m.key).length;
  const producer = createProducer(deps.kafka);
  await producer.connect();
  try {
    let sent = 0;
    let mb = 0;
    const t = performance.now();
    while (sent < opts.events) {
      const messages = encoded.slice(sent % encoded.length, (sent % encoded.length) + 4000).slice(0, opts.events - sent);
      await producer.sendBatch({ acks: -1, topicMessages: [{ topic: bulk, messages }] });
      sent += messages.length;
      mb += messages.reduce((n, m) => n + bytes(m), 0) / 2 ** 20;
    }
    const s = seconds(t);
    const produce = { ...rate(sent, s), mbPerSecond: mb / s };

    const produceLatency: Record<string, Latency> = {};
    for (const c of [1, 10, 100]) {
      const ms: number[] = [];
      const end = performance.now() + opts.seconds * 1000;
      await Promise.all(
        Array.from({ length: c }, async (_x, k) => {
          for (let i = k; performance.now() < end; i += c) {
            const t0 = performance.now();
            await producer.send({ topic: bulk, acks: -1, messages: [encoded[i % encoded.length]!] });
            ms.push(performance.now() - t0);
          }
        }),
      );
      produceLatency[`c${c}`] = percentiles(ms);
    }

    const consumer = createConsumer(deps.kafka, `${scratch.namespace}.ping.${randomUUID().slice(0, 8)}`);
    const waiting = new Map<string, () => void>();
    let joined!: () => void;
    const ready = new Promise<void>((r) => (joined = r));
    consumer.on(consumer.events.GROUP_JOIN, () => joined());
    await consumer.connect();
    await consumer.subscribe({ topic: ping, fromBeginning: false });
    await consumer.run({ eachMessage: async ({ message }) => waiting.get(String(message.value))?.() });
    await ready;
    const rtt: number[] = [];
    for (let i = -5; i < opts.pings; i++) {
      const id = randomUUID();
      const got = new Promise<void>((r) => waiting.set(id, r));
      const t0 = performance.now();
      await producer.send({ topic: ping, acks: -1, messages: [{ key: 'ping', value: id }] });
      await Promise.race([got, sleep(10_000)]);
      waiting.delete(id);
      if (i >= 0) rtt.push(performance.now() - t0); // the first five warm up (and wait out the seek to the end)
    }
    await consumer.disconnect();
    return { produce, produceLatency, roundTrip: percentiles(rtt) };
  } finally {
    await producer.disconnect();
  }
}

/** L2: every seeded event consumed from offset 0 with eachBatch and decoded through the registry client's cache. */
export async function l2(deps: { kafka: Kafka; admin: Admin; eventLog: EventLog }, seeded: Topics) {
  const topics = seededTopics(seeded);
  const ends = new Map(
    [...(await endOffsets(deps.admin, topics))].filter(([, p]) => p.end > 0).map(([k, p]) => [k, BigInt(p.end)] as const),
  );
  const consumer = createConsumer(deps.kafka, `${seeded.namespace}.bench-l2.${randomUUID().slice(0, 8)}`, { maxWaitTimeInMs: 200 });
  let count = 0;
  let first = 0;
  let finished!: () => void;
  const done = new Promise<void>((r) => (finished = r));
  const reached = new Set<string>();
  await consumer.connect();
  for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch }) => {
      if (first === 0) first = performance.now();
      for (const m of batch.messages) await deps.eventLog.decodeMessage(batch.topic, batch.partition, m);
      count += batch.messages.length;
      const key = `${batch.topic}/${batch.partition}`;
      if (BigInt(batch.lastOffset()) + 1n >= (ends.get(key) ?? 0n)) reached.add(key);
      if (reached.size === ends.size) finished();
    },
  });
  await done;
  const s = seconds(first);
  await consumer.disconnect();
  return rate(count, s);
}

const STATUSES = ['running', 'stopped', 'stopped', 'created', 'running', 'deleted', 'stopped', 'running', 'created', 'stopped'];

/** Device rows as the device read model writes them (tenant `acme`, one user per five devices). */
export function deviceRow(i: number, id = randomUUID()) {
  const at = new Date(Date.UTC(2026, 10, 1) + i * 1000);
  return {
    device_id: id,
    tenant_id: 'acme',
    user_id: `bench-u${Math.floor(i / 5)}`,
    order_id: null,
    name: `phone ${i}`,
    spec: { cpuCores: 4, memoryMb: 8192, storageGb: 64, androidVersion: '13' },
    tier: ['basic', 'standard', 'premium'][i % 3]!,
    region: 'cn-east',
    status: STATUSES[i % STATUSES.length]!,
    created_at: at,
    updated_at: at,
    version: 1 + (i % 7),
    username: `user${Math.floor(i / 5)}`,
    email: `user${Math.floor(i / 5)}@example.com`,
    phone: null,
    user_status: 'active',
  };
}

export function notificationRow(i: number) {
  return {
    notification_id: randomUUID(),
    tenant_id: 'acme',
    user_id: `bench-u${i % 20_000}`,
    title: '支付成功',
    content: '您的订单已支付成功，金额：¥29.90',
    cause: 'order.paid',
    cause_event_id: null,
    read: i % 2 === 0,
    sent_at: new Date(Date.UTC(2026, 10, 1) + i * 1000),
    read_at: null,
    version: 1,
  };
}

type RowOf = (i: number) => Record<string, unknown>;

const copyValue = (v: unknown): string => {
  if (v === null || v === undefined) return '\\N';
  if (v instanceof Date) return v.toISOString();
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
};

/** COPY `count` rows into `table` of `schema` (text format), streamed in chunks. Returns rows/s and a sample of keys. */
export async function copyRows(url: string, schema: string, table: string, rowOf: RowOf, count: number, key: string, sampleEvery = 100) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const sample: string[] = [];
  try {
    await client.query(`set search_path to "${schema}"`);
    const columns = Object.keys(rowOf(0));
    const t = performance.now();
    const stream = client.query(copyFrom(`copy "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) from stdin`));
    async function* lines() {
      for (let i = 0; i < count; i += 1000) {
        let chunk = '';
        for (let k = i; k < Math.min(count, i + 1000); k++) {
          const row = rowOf(k);
          if (k % sampleEvery === 0) sample.push(String(row[key]));
          chunk += columns.map((c) => copyValue(row[c])).join('\t') + '\n';
        }
        yield chunk;
      }
    }
    await pipeline(Readable.from(lines()), stream);
    return { ...rate(count, seconds(t)), sample };
  } finally {
    await client.end();
  }
}

/** Multi-row upserts (insert … on conflict do update, `batch` rows a statement, one transaction each) of `count` rows. */
export async function upsertRows(db: Db, table: string, rowOf: RowOf, count: number, key: string, batch = 500) {
  const t = performance.now();
  for (let i = 0; i < count; i += batch) {
    const rows = Array.from({ length: Math.min(batch, count - i) }, (_x, k) => rowOf(i + k));
    await db.transaction((trx) => trx(table).insert(rows).onConflict(key).merge());
  }
  return rate(count, seconds(t));
}

/** p50/p99 of one primary-key SELECT through the knex pool, sequential. */
export async function selectLatency(db: Db, table: string, key: string, ids: string[], count: number): Promise<Latency> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await db(table)
      .where(key, ids[(i * 7919) % ids.length])
      .first();
    ms.push(performance.now() - t);
  }
  return percentiles(ms);
}

/** L4: a bare Koa app with one JSON route and no I/O, at saturation. */
export async function l4(opts: { seconds: number; connections: number }): Promise<Load> {
  const app = new Koa();
  app.use((ctx) => {
    ctx.body = { ok: true, at: Date.now() };
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as { port: number }).port;
  try {
    return await runLoad<Load>({
      kind: 'http',
      url: `http://127.0.0.1:${port}`,
      method: 'GET',
      paths: ['/'],
      headers: {},
      connections: opts.connections,
      seconds: opts.seconds,
    });
  } finally {
    server.close();
    server.closeAllConnections();
  }
}
