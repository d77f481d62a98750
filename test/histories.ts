import fc from 'fast-check';
import { handle, type CommandMeta, type Decider } from '../lib/decider';
import { DomainError } from '../lib/errors';
import type { AnyEvent } from '../lib/event-log';
import { ERASED } from '../lib/pii';
import { loadEventSchemas } from '../lib/schemas';
import type { Topics } from '../lib/topics';
import { appInstallDecider } from '../services/app-install/decider';
import { deviceDecider } from '../services/device/decider';
import { orderDecider } from '../services/order/decider';
import { userDecider } from '../services/user/decider';
import { deviceSpec, fen } from './fixtures';

/**
 * Event histories for property tests, produced by the real deciders (so every stream is one the write side
 * could have written), and their deliveries: each topic-partition log keeps its order; the logs are
 * interleaved at random and cut into batches of random size, one partition per batch, as Kafka delivers them.
 */
export interface Stream {
  topic: string;
  partition: number;
  events: AnyEvent[];
}

type Cmd = { type: string } & Record<string, unknown>;

function run<C extends { type: string }, E, S>(
  decider: Decider<C, E & AnyEvent, S>,
  id: string,
  tenant: string,
  commands: Cmd[],
  t0: number,
): AnyEvent[] {
  let current = { state: decider.initialState, version: 0 };
  const out: AnyEvent[] = [];
  commands.forEach((c, i) => {
    const meta: CommandMeta = {
      commandId: `${id}-c${i}`,
      aggregateId: id,
      tenantId: tenant,
      correlationId: 'corr',
      causationId: null,
      now: t0 + i * 61_000,
    };
    try {
      const r = handle(decider, current, { ...meta, ...(c as unknown as C) });
      out.push(...r.events);
      current = { state: r.state, version: r.version };
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
    }
  });
  return out;
}

const USER_OPS = ['rename', 'email', 'suspend', 'activate', 'delete', 'erase'] as const;
const DEVICE_OPS = ['start', 'stop', 'rename', 'delete'] as const;
const ORDER_OPS = ['pay', 'cancel', 'refund-part', 'refund'] as const;

export const historyArb = fc.record({
  users: fc.array(fc.array(fc.constantFrom(...USER_OPS), { maxLength: 5 }), { minLength: 1, maxLength: 3 }),
  devices: fc.array(
    fc.record({
      owner: fc.nat(),
      tier: fc.constantFrom('basic', 'standard', 'premium'),
      ops: fc.array(fc.constantFrom(...DEVICE_OPS), { maxLength: 8 }),
    }),
    { maxLength: 4 },
  ),
  orders: fc.array(fc.record({ owner: fc.nat(), ops: fc.array(fc.constantFrom(...ORDER_OPS), { maxLength: 4 }) }), { maxLength: 3 }),
  apps: fc.array(fc.record({ device: fc.nat(), outcome: fc.constantFrom('complete', 'fail', 'pending') }), { maxLength: 3 }),
  /** Drives the interleavings and batch sizes. */
  schedule: fc.array(fc.nat({ max: 1000 }), { minLength: 64, maxLength: 64 }),
});

export type HistorySpec = typeof historyArb extends fc.Arbitrary<infer T> ? T : never;

/** The event topics a history is written to (buildStreams' `topics`), in a namespace's topics. */
export type HistoryTopics = { user: string; device: string; appInstall: string; order: string };
export const historyTopics = (topics: Topics): HistoryTopics => ({
  user: topics.user.events,
  device: topics.device.events,
  appInstall: topics.appInstall.events,
  order: topics.order.events,
});

/** Builds the per-aggregate event streams of a history, grouped into topic-partition logs (2 partitions per topic). */
export function buildStreams(h: HistorySpec, topics: HistoryTopics, run_id: string): Stream[] {
  const t0 = Date.UTC(2026, 10, 25, 8, 0, 0);
  const userIds = h.users.map((_ops, i) => `${run_id}-u${i}`);
  const perAggregate: Array<{ topic: string; events: AnyEvent[] }> = [];
  h.users.forEach((ops, i) => {
    const cmds: Cmd[] = [{ type: 'RegisterUser', username: `user${i}`, email: `user${i}@example.com`, phone: null }];
    for (const [k, op] of ops.entries()) {
      if (op === 'rename') cmds.push({ type: 'UpdateUser', username: `user${i}-v${k}` });
      if (op === 'email')
        cmds.push({ type: 'UpdateUser', email: `user${i}-v${k}@example.com`, phone: `+86 138 0000 ${String(k).padStart(4, '0')}` });
      if (op === 'suspend') cmds.push({ type: 'ChangeUserStatus', status: 'suspended', reason: 'unpaid' });
      if (op === 'activate') cmds.push({ type: 'ChangeUserStatus', status: 'active', reason: null });
      if (op === 'delete') cmds.push({ type: 'DeleteUser', reason: null });
      if (op === 'erase') cmds.push({ type: 'EraseUser', reason: 'request' });
    }
    perAggregate.push({ topic: topics.user, events: run(userDecider, userIds[i]!, 'acme', cmds, t0 + i * 1000) });
  });
  const deviceIds = h.devices.map((_d, i) => `${run_id}-d${i}`);
  h.devices.forEach((d, i) => {
    const cmds: Cmd[] = [
      {
        type: 'CreateDevice',
        userId: userIds[d.owner % userIds.length],
        name: `phone${i}`,
        spec: deviceSpec,
        tier: d.tier,
        region: 'cn-east',
        orderId: null,
      },
    ];
    for (const [k, op] of d.ops.entries()) {
      if (op === 'start') cmds.push({ type: 'StartDevice' });
      if (op === 'stop') cmds.push({ type: 'StopDevice', reason: null });
      if (op === 'rename') cmds.push({ type: 'UpdateDevice', name: `phone${i}-v${k}` });
      if (op === 'delete') cmds.push({ type: 'DeleteDevice', reason: null });
    }
    perAggregate.push({ topic: topics.device, events: run(deviceDecider, deviceIds[i]!, 'acme', cmds, t0 + 5000 + i * 7_777) });
  });
  h.orders.forEach((o, i) => {
    const amount = fen(2990);
    const cmds: Cmd[] = [
      {
        type: 'CreateOrder',
        userId: userIds[o.owner % userIds.length],
        planId: 'p',
        planName: 'Plan',
        amount,
        spec: deviceSpec,
        tier: 'basic',
        region: 'cn-east',
      },
    ];
    for (const op of o.ops) {
      if (op === 'pay') cmds.push({ type: 'PayOrder', amount, paymentMethod: 'alipay', paymentRef: null });
      if (op === 'cancel') cmds.push({ type: 'CancelOrder', reason: 'timeout' });
      if (op === 'refund-part') cmds.push({ type: 'RefundOrder', amount: fen(1000), reason: 'part' });
      if (op === 'refund') cmds.push({ type: 'RefundOrder', reason: 'all' });
    }
    perAggregate.push({ topic: topics.order, events: run(orderDecider, `${run_id}-o${i}`, 'acme', cmds, t0 + 3000 + i * 999) });
  });
  if (deviceIds.length > 0) {
    h.apps.forEach((a, i) => {
      const cmds: Cmd[] = [
        {
          type: 'RequestAppInstall',
          userId: userIds[0],
          deviceId: deviceIds[a.device % deviceIds.length],
          appId: 'com.tencent.mm',
          appVersion: null,
        },
      ];
      if (a.outcome === 'complete') cmds.push({ type: 'CompleteAppInstall' });
      if (a.outcome === 'fail') cmds.push({ type: 'FailAppInstall', reason: 'device is not running' });
      perAggregate.push({ topic: topics.appInstall, events: run(appInstallDecider, `${run_id}-a${i}`, 'acme', cmds, t0 + 9000 + i * 500) });
    });
  }
  // Two partitions per topic; within a partition, the aggregates' events interleave but each keeps its order.
  const logs = new Map<string, Stream>();
  let pick = 0;
  for (const [i, agg] of perAggregate.entries()) {
    const partition = i % 2;
    const key = `${agg.topic}/${partition}`;
    const log = logs.get(key) ?? { topic: agg.topic, partition, events: [] };
    const merged: AnyEvent[] = [];
    let a = 0;
    let b = 0;
    while (a < log.events.length || b < agg.events.length) {
      const takeOld = b >= agg.events.length || (a < log.events.length && h.schedule[pick++ % h.schedule.length]! % 2 === 0);
      merged.push(takeOld ? log.events[a++]! : agg.events[b++]!);
    }
    logs.set(key, { ...log, events: merged });
  }
  return [...logs.values()].filter((s) => s.events.length > 0);
}

/** A delivery: batches of 1..5 events, each from one partition log, the logs interleaved by the schedule. */
export function deliver(streams: Stream[], schedule: number[]): Array<{ stream: Stream; events: AnyEvent[] }> {
  const cursors = streams.map(() => 0);
  const out: Array<{ stream: Stream; events: AnyEvent[] }> = [];
  let n = 0;
  while (cursors.some((c, i) => c < streams[i]!.events.length)) {
    const open = streams.map((_s, i) => i).filter((i) => cursors[i]! < streams[i]!.events.length);
    const s = open[schedule[n++ % schedule.length]! % open.length]!;
    const size = 1 + (schedule[n++ % schedule.length]! % 5);
    out.push({ stream: streams[s]!, events: streams[s]!.events.slice(cursors[s], cursors[s]! + size) });
    cursors[s] = Math.min(streams[s]!.events.length, cursors[s]! + size);
  }
  return out;
}

const PII = new Map(loadEventSchemas().flatMap((s) => (s.pii ? [[s.type, s.pii] as const] : [])));

/**
 * The streams as a rebuild reads them once every erased user's data key is destroyed (lib/pii.ts): each field a
 * schema marks "pii" whose subject is an erased user reads ERASED.
 */
export function shredded(streams: Stream[]): Stream[] {
  const erased = new Set(streams.flatMap((s) => s.events.filter((e) => e.type === 'user.erased').map((e) => e.aggregateId)));
  const shred = (e: AnyEvent): AnyEvent => {
    const pii = PII.get(e.type);
    if (!pii || !erased.has(e[pii.subject] as string)) return e;
    return { ...e, ...Object.fromEntries(pii.fields.filter((f) => typeof e[f] === 'string').map((f) => [f, ERASED])) };
  };
  return streams.map((s) => ({ ...s, events: s.events.map(shred) }));
}
