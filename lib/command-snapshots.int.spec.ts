import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Producer } from 'kafkajs';
import { createCommandBus } from './command-bus';
import type { Reply } from './commands';
import { createCommandProcessor, type CommandProcessor } from './command-processor';
import { handle, type CommandMeta, type Decider } from './decider';
import type { AnyEvent } from './event-log';
import { createProducer, partitionOf } from './kafka';
import { readChangelogRecord, stateFingerprint, WATERMARK_KEY } from './snapshots';
import type { Topics } from './topics';
import { deviceDecider, type DeviceCommand, type DeviceState } from '../services/device/decider';
import type { DeviceEvent } from '../services/device/events';
import { newDevice } from '../test/fixtures';
import { testNamespace } from '../test/namespace';
import { commandMetaFor, integration, waitFor } from '../test/support';

/**
 * The bounded command side (issue 14): a writer holds only the partitions it owns, restores them from the snapshot
 * changelog written in the events' transaction, and folds events only past the snapshots — or, when there are no
 * trusted snapshots (none yet, or another state format), folds the events once and writes fresh snapshots.
 */
const it_ = integration();
const PARTITIONS = 4;
const main = testNamespace(it_, 'test-snap', { partitions: PARTITIONS });
const { topics } = main;
const create = { ...newDevice('u1'), orderId: null };
type AnyDecider = Decider<DeviceCommand, DeviceEvent, DeviceState>;

const running = new Set<CommandProcessor>();
async function processor(instanceId: string, decider: AnyDecider = deviceDecider, ns: Topics = topics) {
  const p = createCommandProcessor({
    kafka: it_.kafka,
    eventLog: it_.eventLog,
    decider,
    topics: ns.device,
    repliesTopic: ns.replies,
    deadLettersTopic: ns.commandDeadLetters,
    groupId: `${ns.namespace}.device.processor`,
    instanceId,
    logger: it_.logger,
  });
  await p.start();
  running.add(p);
  return p;
}
async function stop(p: CommandProcessor) {
  running.delete(p);
  await p.stop();
}
/** Waits until the processors between them hold every partition, each restored. */
async function settled(...ps: CommandProcessor[]) {
  await waitFor(
    async () => {
      await Promise.all(ps.map((p) => p.whenReady()));
      const held = ps.flatMap((p) => p.holding().partitions).sort();
      return held.length === PARTITIONS && new Set(held).size === PARTITIONS ? true : undefined;
    },
    { what: 'every partition owned and restored', timeoutMs: 60_000, intervalMs: 100 },
  );
}

const bus = createCommandBus({
  kafka: it_.kafka,
  repliesTopic: topics.replies,
  instanceId: 'api-1',
  logger: it_.logger,
  timeoutMs: 30_000,
});
let raw: Producer;
const send = (meta: CommandMeta, type: DeviceCommand['type'], payload: Record<string, unknown>) =>
  bus.send(topics.device, { meta, type, payload });

beforeAll(async () => {
  await main.setup();
  raw = createProducer(it_.kafka);
  await Promise.all([raw.connect(), bus.start()]);
});
afterAll(async () => {
  await Promise.all([...running].map((p) => p.stop()));
  await Promise.all([bus.stop(), raw.disconnect()]);
  await main.teardown();
  await it_.close();
});

/** Creates `n` devices and renames each `renames` times; returns the ids and the reply of each device's first rename. */
async function history(n: number, renames: number) {
  const ids = Array.from({ length: n }, () => randomUUID());
  const firsts = new Map<string, { meta: CommandMeta; reply: Reply }>();
  await Promise.all(
    ids.map(async (id) => {
      expect(await send(commandMetaFor(id), 'CreateDevice', create)).toMatchObject({ ok: true, version: 1 });
      for (let i = 0; i < renames; i++) {
        const meta = commandMetaFor(id);
        const reply = await send(meta, 'UpdateDevice', { name: `name-${i}` });
        expect(reply).toMatchObject({ ok: true, version: 2 + i });
        if (i === 0) firsts.set(id, { meta, reply });
      }
    }),
  );
  return { ids, firsts };
}

const sum = (p: CommandProcessor, key: 'snapshots' | 'events') => p.restores().reduce((n, r) => n + r[key], 0);

describe('a writer restores what it owns from snapshots, not from the whole log', () => {
  let ids: string[] = [];
  let firsts: Awaited<ReturnType<typeof history>>['firsts'];

  test('a restart restores from the snapshots: no event is folded, versions and retries hold', async () => {
    const a = await processor('a');
    await settled(a);
    ({ ids, firsts } = await history(12, 3));
    await stop(a);

    const b = await processor('b');
    await settled(b);
    expect(sum(b, 'events')).toBe(0);
    expect(sum(b, 'snapshots')).toBeGreaterThanOrEqual(12);
    expect(b.restores().flatMap((r) => r.folded)).toEqual([]);
    for (const id of ids) expect(b.peek(id)).toMatchObject({ version: 4, state: { status: 'created', name: 'name-2' } });
    // A retry of a command applied before the restart gets its first result (same events, same position).
    for (const [id, { meta, reply }] of firsts) {
      expect(await send(meta, 'UpdateDevice', { name: 'name-0' })).toEqual({ ...reply, duplicate: true });
      expect(await send(commandMetaFor(id), 'StartDevice', {})).toMatchObject({ ok: true, version: 5 });
    }
    await stop(b);
  });

  test('two instances split the partitions, each holding only its own; a retry after the partition moved gets its first result', async () => {
    const c = await processor('c');
    const d = await processor('d');
    await settled(c, d);
    const [hc, hd] = [c.holding(), d.holding()];
    expect(hc.partitions.length).toBeGreaterThan(0);
    expect(hd.partitions.length).toBeGreaterThan(0);
    for (const id of ids) {
      const owner = hc.partitions.includes(partitionOf(id, PARTITIONS)) ? c : d;
      const other = owner === c ? d : c;
      expect(owner.peek(id)?.version).toBe(5);
      expect(other.peek(id)).toBeUndefined();
    }
    expect(hc.aggregates + hd.aggregates).toBe(ids.length);
    for (const [, { meta, reply }] of firsts)
      expect(await send(meta, 'UpdateDevice', { name: 'name-0' })).toEqual({ ...reply, duplicate: true });

    // c leaves: d takes its partitions over, restoring only those (it keeps its own), and answers c's aggregates.
    const before = d.restores().length;
    await stop(c);
    await settled(d);
    const moved = d.restores().slice(before);
    expect(moved.flatMap((r) => r.partitions).sort()).toEqual([...Array(PARTITIONS).keys()]);
    expect(moved.reduce((n, r) => n + r.events, 0)).toBe(0);
    for (const [id, { meta, reply }] of firsts) {
      expect(await send(meta, 'UpdateDevice', { name: 'name-0' })).toEqual({ ...reply, duplicate: true });
      expect(await send(commandMetaFor(id), 'StopDevice', { reason: null })).toMatchObject({ ok: true, version: 6 });
    }
    await stop(d);
  });

  test('the changelog: one snapshot per aggregate change and a watermark, each readable; a foreign value is never trusted', async () => {
    const records = await it_.readRawAll(topics.device.snapshots);
    const fp = stateFingerprint(deviceDecider as never);
    const marks = records.filter((r) => r.message.key?.toString() === WATERMARK_KEY);
    expect(marks.length).toBeGreaterThan(0);
    const latest = new Map(records.map((r) => [r.message.key!.toString(), r.message.value]));
    const id = ids[0]!;
    const read = readChangelogRecord<DeviceState>(id, latest.get(id)!, fp);
    expect(read).toMatchObject({ kind: 'snapshot', slot: { version: 6 } });
    expect(readChangelogRecord(id, Buffer.from('{"format":1,"fingerprint":"x"}'), fp).kind).toBe('stale');
    expect(readChangelogRecord(id, Buffer.from('\u0000 not json'), fp).kind).toBe('stale');
    const shaped = (over: Record<string, unknown>) =>
      Buffer.from(
        JSON.stringify({ format: 1, fingerprint: fp, aggregateId: id, version: 6, offset: null, state: {}, applied: [], ...over }),
      );
    expect(readChangelogRecord(id, shaped({}), fp).kind).toBe('snapshot');
    for (const over of [{ applied: [[null, 'x', -1, 'nul\u0000', 7]] }, { state: 'a string' }, { version: 0 }, { offset: '\ud800' }]) {
      expect(readChangelogRecord(id, shaped(over), fp).kind).toBe('stale');
    }
    expect(readChangelogRecord(WATERMARK_KEY, Buffer.from(JSON.stringify({ format: 1, fingerprint: fp, offset: '-1' })), fp).kind).toBe(
      'stale',
    );

    // npm run inspect -- device:snapshots --key <id>: the aggregate's snapshots, the last one at its current version.
    const res = spawnSync(
      process.execPath,
      [
        require.resolve('tsx/cli'),
        path.join(__dirname, '../scripts/inspect.ts'),
        'device:snapshots',
        '--from-beginning',
        '--json',
        '--key',
        id,
      ],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, TOPIC_NAMESPACE: topics.namespace } },
    );
    expect(res.status).toBe(0);
    const lines = res.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; snapshot: { version: number; fingerprint: string; state: { status: string } } });
    expect(lines.length).toBeGreaterThanOrEqual(6);
    expect(lines.at(-1)).toMatchObject({ key: id, snapshot: { version: 6, fingerprint: fp, state: { status: 'stopped' } } });
  });

  test('hostile records written straight into the snapshot topic are never trusted: their partitions are folded from the events', async () => {
    const fp = stateFingerprint(deviceDecider as never);
    const snapshot = (id: string, over: Record<string, unknown>) =>
      JSON.stringify({
        format: 1,
        fingerprint: fp,
        aggregateId: id,
        tenantId: 't1',
        version: 6,
        offset: null,
        state: {},
        applied: [],
        ...over,
      });
    const hostile: Array<[string, string | Buffer]> = [
      [ids[0]!, snapshot(ids[0]!, { version: 2 ** 53 + 1 })],
      [ids[1]!, snapshot(ids[1]!, { applied: [[null, 'x', -1, 'nul\u0000', 7]] })],
      [ids[2]!, Buffer.from('\u0000\u0001\u001f not json')],
      [ids[3]!, Buffer.alloc(200_000, 0xff)],
      [ids[4]!, snapshot(ids[4]!, { version: -1 })],
      [ids[5]!, snapshot(ids[5]!, { state: 'a string', offset: '\ud800' })],
    ];
    await raw.send({
      topic: topics.device.snapshots,
      messages: hostile.map(([key, value]) => ({ key, value, partition: partitionOf(key, PARTITIONS) })),
    });
    const x = await processor('x');
    await settled(x);
    const poisoned = [...new Set(hostile.map(([key]) => partitionOf(key, PARTITIONS)))].sort();
    expect(
      x
        .restores()
        .flatMap((r) => r.folded)
        .sort(),
    ).toEqual(poisoned);
    for (const id of ids) expect(x.peek(id)).toMatchObject({ version: 6, state: { status: 'stopped' } });
    await stop(x);
  });

  test('another state format: the snapshots are not trusted, the events are folded once and fresh snapshots written', async () => {
    // evolve changed: it now counts renames in the state (a field older snapshots lack).
    const counting: AnyDecider = {
      ...deviceDecider,
      initialState: { status: 'none' },
      evolve: (state, event) => {
        const next = deviceDecider.evolve(state, event) as DeviceState & { renames?: number };
        const renames = ((state as { renames?: number }).renames ?? 0) + (event.type === 'device.updated' ? 1 : 0);
        return next.status === 'none' ? next : ({ ...next, renames } as DeviceState);
      },
    };
    expect(stateFingerprint(counting as never)).not.toBe(stateFingerprint(deviceDecider as never));
    const e = await processor('e', counting);
    await settled(e);
    expect(
      e
        .restores()
        .flatMap((r) => r.folded)
        .sort(),
    ).toEqual([...new Set(ids.map((id) => partitionOf(id, PARTITIONS)))].sort());
    expect(sum(e, 'events')).toBe(ids.length * 6);
    for (const id of ids) expect(e.peek(id)).toMatchObject({ version: 6, state: { status: 'stopped', renames: 3 } });
    await stop(e);

    // The next start with the same decider reads the fresh snapshots.
    const f = await processor('f', counting);
    await settled(f);
    expect(sum(f, 'events')).toBe(0);
    for (const id of ids) expect(f.peek(id)).toMatchObject({ version: 6, state: { renames: 3 } });
    // A declared state version change is another format too.
    await stop(f);
    const g = await processor('g', { ...counting, stateVersion: 2 });
    await settled(g);
    expect(sum(g, 'events')).toBe(ids.length * 6);
    await stop(g);
  });

  test('a log with no snapshots (events written straight to the event topic): the first start folds, later ones restore', async () => {
    const seed = testNamespace(it_, 'test-snap-seed', { partitions: PARTITIONS });
    const fresh = seed.topics;
    await seed.setup();
    try {
      const seeded = Array.from({ length: 20 }, () => randomUUID());
      const events: AnyEvent[] = [];
      for (const id of seeded) {
        let current = { state: deviceDecider.initialState, version: 0 };
        for (const [type, payload] of [
          ['CreateDevice', create],
          ['StartDevice', {}],
          ['StopDevice', { reason: null }],
        ] as const) {
          const r = handle(deviceDecider, current, { ...commandMetaFor(id), type, ...payload } as DeviceCommand & CommandMeta);
          events.push(...(r.events as unknown as AnyEvent[]));
          current = r;
        }
      }
      await it_.eventLog.append(raw, fresh.device.events, events);
      const start = async (instanceId: string) => {
        const p = await processor(instanceId, deviceDecider, fresh);
        await waitFor(async () => (await p.whenReady(), p.holding().partitions.length === PARTITIONS ? true : undefined), {
          what: 'every partition restored',
          timeoutMs: 60_000,
        });
        return p;
      };
      const first = await start('h');
      expect(sum(first, 'events')).toBe(60);
      for (const id of seeded) expect(first.peek(id)).toMatchObject({ version: 3, state: { status: 'stopped' } });
      await stop(first);
      const second = await start('i');
      expect(sum(second, 'events')).toBe(0);
      expect(sum(second, 'snapshots')).toBe(20 + new Set(seeded.map((id) => partitionOf(id, PARTITIONS))).size);
      for (const id of seeded) expect(second.peek(id)).toMatchObject({ version: 3, state: { status: 'stopped' } });
      await stop(second);
    } finally {
      await seed.teardown();
    }
  });
});
