import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import type { Admin, Message, Producer } from 'kafkajs';
import { handle } from '../lib/decider';
import type { AnyEvent, EventLog } from '../lib/event-log';
import type { Topics } from '../lib/topics';
import { notificationDecider } from '../services/notification/decider';
import { buildStreams, historyArb } from '../test/histories';

/**
 * The bench's event log: a realistic mix over every topic the read models read, made by the real deciders
 * (test/histories.ts: users, devices started and stopped, orders paid, cancelled and refunded, app installs),
 * plus one notification (half of them read) per five events. Generated in chunks so memory stays flat, encoded
 * through the event log (schema-validated, Confluent wire format) and sent with sendBatch.
 */
export const HISTORIES_PER_CHUNK = 400;
const SEND_BATCH = 4000;

/** The events of one chunk of histories, as streams to append in order (each aggregate keeps its order). */
export function generateChunk(
  topics: Topics,
  chunk: number,
  histories = HISTORIES_PER_CHUNK,
): Array<{ topic: string; events: AnyEvent[] }> {
  const names = {
    user: topics.user.events,
    device: topics.device.events,
    appInstall: topics.appInstall.events,
    order: topics.order.events,
  };
  const out: Array<{ topic: string; events: AnyEvent[] }> = [];
  let count = 0;
  const userIds: string[] = [];
  for (const [i, h] of fc.sample(historyArb, { seed: 8000 + chunk, numRuns: histories }).entries()) {
    const run = `s${chunk}-${i}`;
    h.users.forEach((_u, k) => userIds.push(`${run}-u${k}`));
    for (const s of buildStreams(h, names, run)) {
      out.push({ topic: s.topic, events: s.events });
      count += s.events.length;
    }
  }
  const notes: AnyEvent[] = [];
  for (let i = 0; notes.length < count / 5; i++) {
    const meta = {
      commandId: `s${chunk}-n${i}`,
      aggregateId: `s${chunk}-n${i}`,
      tenantId: 'acme',
      correlationId: 'corr',
      causationId: null,
      now: Date.UTC(2026, 10, 25, 9, 0, 0) + i * 1000,
    };
    const sent = handle(
      notificationDecider,
      { state: notificationDecider.initialState, version: 0 },
      {
        ...meta,
        type: 'SendNotification',
        userId: userIds[i % userIds.length]!,
        title: '支付成功',
        content: '您的订单已支付成功，金额：¥29.90',
        cause: 'order.paid',
      },
    );
    notes.push(...(sent.events as unknown as AnyEvent[]));
    if (i % 2 === 0) {
      const read = handle(notificationDecider, sent, {
        ...meta,
        commandId: `s${chunk}-r${i}`,
        now: meta.now + 60_000,
        type: 'ReadNotification',
      });
      notes.push(...(read.events as unknown as AnyEvent[]));
    }
  }
  out.push({ topic: topics.notification.events, events: notes });
  return out;
}

/** The event topics the bench seeds (every topic a read model reads). */
export const seededTopics = (t: Topics) => [t.user.events, t.device.events, t.order.events, t.appInstall.events, t.notification.events];

/** Sum of the end offsets of each topic (no transactions on these topics, so offsets count messages). */
export async function topicCounts(admin: Admin, topics: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of topics) out[t] = (await admin.fetchTopicOffsets(t)).reduce((n, o) => n + Number(o.high), 0);
  return out;
}

interface SeedMarker {
  namespace: string;
  target: number;
  events: number;
  perTopic: Record<string, number>;
}

const markerPath = (stackDir: string, namespace: string) => path.join(stackDir, `bench-seed.${namespace}.json`);

/** The seed of an earlier run, if the topics still hold exactly what it wrote. */
export async function existingSeed(admin: Admin, topics: Topics, stackDir: string, target: number): Promise<SeedMarker | undefined> {
  const file = markerPath(stackDir, topics.namespace);
  if (!existsSync(file)) return undefined;
  const marker = JSON.parse(readFileSync(file, 'utf8')) as SeedMarker;
  if (marker.target !== target) return undefined;
  const now = await topicCounts(admin, seededTopics(topics)).catch(() => undefined);
  if (!now || Object.entries(marker.perTopic).some(([t, n]) => now[t] !== n)) return undefined;
  return marker;
}

/** Appends at least `target` events to the namespace's topics, `SEND_BATCH` messages per sendBatch. */
export async function seed(
  deps: { admin: Admin; producer: Producer; eventLog: EventLog; stackDir: string },
  topics: Topics,
  target: number,
  onProgress: (sent: number) => void = () => undefined,
): Promise<SeedMarker> {
  let sent = 0;
  let pending: Array<{ topic: string; message: Message }> = [];
  const flush = async () => {
    const byTopic = new Map<string, Message[]>();
    for (const p of pending) {
      const list = byTopic.get(p.topic) ?? [];
      if (list.length === 0) byTopic.set(p.topic, list);
      list.push(p.message);
    }
    await deps.producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    pending = [];
  };
  // About 17 events a history: a small target (the smoke test) takes smaller chunks.
  const histories = Math.min(HISTORIES_PER_CHUNK, Math.max(20, Math.ceil(target / 17)));
  for (let chunk = 0; sent < target; chunk++) {
    for (const s of generateChunk(topics, chunk, histories)) {
      for (const e of s.events) {
        pending.push({ topic: s.topic, message: await deps.eventLog.toMessage(s.topic, e) });
        sent++;
        if (pending.length >= SEND_BATCH) await flush();
      }
    }
    onProgress(sent);
  }
  if (pending.length > 0) await flush();
  const perTopic = await topicCounts(deps.admin, seededTopics(topics));
  const marker: SeedMarker = { namespace: topics.namespace, target, events: sent, perTopic };
  mkdirSync(deps.stackDir, { recursive: true });
  writeFileSync(markerPath(deps.stackDir, topics.namespace), JSON.stringify(marker, null, 2));
  return marker;
}

/** Forgets the seed of a namespace (its topics are being deleted). */
export const forgetSeed = (stackDir: string, namespace: string) => rmSync(markerPath(stackDir, namespace), { force: true });
