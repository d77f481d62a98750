import { randomUUID } from 'node:crypto';
import type { Producer } from 'kafkajs';
import { createCommandBus } from './command-bus';
import { createCommandProcessor, MAX_COMMAND_EVENT_BYTES } from './command-processor';
import type { CommandMeta, Decider } from './decider';
import { createProducer, partitionOf } from './kafka';
import { createMetrics } from './metrics';
import { deviceDecider, type DeviceCommand, type DeviceState } from '../services/device/decider';
import type { DeviceEvent } from '../services/device/events';
import { draft } from '../test/events';
import { newDevice } from '../test/fixtures';
import { testNamespace } from '../test/namespace';
import { commandMetaFor, integration, waitFor } from '../test/support';

/**
 * Poison on the write side (issue 12): a command that cannot be parsed, names an unknown type, throws a bug, or
 * whose events cannot be encoded or are too large is refused and dead-lettered; the commands behind it on the same
 * partition go on, and the partition's committed offset moves past it.
 */
const it_ = integration();
const ns = testNamespace(it_, 'test-poison', { partitions: 3 });
const { topics } = ns;
const metrics = createMetrics();
const create = { ...newDevice('u1'), orderId: null };

/** `count` device.updated drafts of ~350 bytes each (a 100-character name). */
const renames = (count: number) => Array.from({ length: count }, (_, i) => draft('device.updated', { name: `n${i}`.padEnd(100, 'x') }));

/** The device decider, plus commands that exist to misbehave: one throws a bug, one appends 1,000 events, one 10. */
const misbehaving = {
  ...deviceDecider,
  commands: { ...deviceDecider.commands, Explode: true, Flood: true, Spray: true },
  decide(command: { type: string } & CommandMeta, state: DeviceState) {
    if (command.type === 'Explode') throw new TypeError('a bug in a decider');
    if (command.type === 'Spray') return renames(10);
    if (command.type === 'Flood') return renames(1000);
    return deviceDecider.decide(command as DeviceCommand & CommandMeta, state);
  },
} as unknown as Decider<DeviceCommand, DeviceEvent, DeviceState>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const processor = (decider: Decider<any, any, any>, name: 'device', instanceId = 'a') =>
  createCommandProcessor({
    kafka: it_.kafka,
    eventLog: it_.eventLog,
    decider,
    topics: topics[name],
    repliesTopic: topics.replies,
    deadLettersTopic: topics.commandDeadLetters,
    metrics,
    groupId: `${topics.namespace}.${name}.processor`,
    instanceId,
    logger: it_.logger,
  });
let devices = processor(misbehaving, 'device');
const bus = createCommandBus({
  kafka: it_.kafka,
  repliesTopic: topics.replies,
  instanceId: 'api-1',
  logger: it_.logger,
  timeoutMs: 20_000,
});
let raw: Producer;

beforeAll(async () => {
  await ns.setup();
  raw = createProducer(it_.kafka);
  await raw.connect();
  await Promise.all([devices.start(), bus.start()]);
});
afterAll(async () => {
  await Promise.all([devices.stop(), bus.stop(), raw.disconnect()]);
  await ns.teardown();
  await it_.close();
});

const meta = (aggregateId: string) => commandMetaFor(aggregateId);

/** The one dead letter of the namespace that matches (waited for: a command written straight to a topic has no reply). */
async function deadLetter(match: (headers: Record<string, string>, key: string) => boolean) {
  const found = await waitFor(
    async () => {
      const all = (await it_.readRawAll(topics.commandDeadLetters)).map(({ message }) => ({
        key: message.key?.toString() ?? '',
        value: message.value?.toString() ?? '',
        headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
      }));
      const matching = all.filter((m) => match(m.headers, m.key));
      return matching.length > 0 ? matching : undefined;
    },
    { what: 'the dead letter', timeoutMs: 20_000, intervalMs: 200 },
  );
  expect(found).toHaveLength(1);
  return found[0]!;
}

/** The group's committed offset of the partition that holds `key`'s commands, and the partition's end. */
async function committedAndEnd(topic: string, group: string) {
  const admin = await it_.admin();
  const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  const ends = await admin.fetchTopicOffsets(topic);
  return ends.map((e) => ({
    partition: e.partition,
    end: e.high,
    committed: committed!.partitions.find((p) => p.partition === e.partition)?.offset,
  }));
}

/** Sends a good command for the same aggregate right behind the poison and times its answer. */
async function answeredBehind(aggregateId: string): Promise<number> {
  const started = Date.now();
  const reply = await bus.send(topics.device, { meta: meta(aggregateId), type: 'CreateDevice', payload: create });
  expect(reply).toMatchObject({ ok: true, version: 1 });
  return Date.now() - started;
}

describe('poison never stops a command partition', () => {
  test('an unencodable event (a NUL in a name, sent straight to the processor): 422, dead-lettered; the next command on the partition is answered', async () => {
    const id = randomUUID();
    const m = meta(id);
    const poisoned = bus.send(topics.device, { meta: m, type: 'CreateDevice', payload: { ...create, name: 'nul\u0000device' } });
    const behind = answeredBehind(randomUUID());
    expect(await poisoned).toMatchObject({ ok: false, status: 422, code: 'unencodable_event', message: expect.stringContaining('name') });
    expect(await behind).toBeLessThan(10_000);
    const dl = await deadLetter((h) => h['command-id'] === m.commandId);
    expect(dl.headers).toMatchObject({
      'source-topic': topics.device.commands,
      'command-type': 'CreateDevice',
      'error-code': 'unencodable_event',
      error: expect.stringContaining('name'),
    });
    expect(dl.key).toBe(id);
    // The aggregate was not created: the same id can still be created with a clean name.
    expect(await bus.send(topics.device, { meta: meta(id), type: 'CreateDevice', payload: create })).toMatchObject({
      ok: true,
      version: 1,
    });
  });

  test('a message that is not JSON, written straight into the command topic: dead-lettered, the offset moves past it', async () => {
    const id = randomUUID();
    await raw.send({ topic: topics.device.commands, messages: [{ key: id, value: '{"not json' }] });
    expect(await answeredBehind(id)).toBeLessThan(10_000);
    const dl = await deadLetter((h, key) => key === id);
    expect(dl).toMatchObject({ value: '{"not json', headers: { 'error-code': 'malformed_command', error: 'the command is not JSON' } });
    const offsets = await committedAndEnd(topics.device.commands, `${topics.namespace}.device.processor`);
    const partition = Number(dl.headers['source-partition']);
    const p = offsets.find((o) => o.partition === partition)!;
    expect(BigInt(p.committed!)).toBeGreaterThan(BigInt(dl.headers['source-offset']!));
  });

  test('records that are no event, written straight into the event topic, are skipped by the writer: its aggregate goes on', async () => {
    const id = randomUUID();
    expect(await bus.send(topics.device, { meta: meta(id), type: 'CreateDevice', payload: create })).toMatchObject({
      ok: true,
      version: 1,
    });
    const unknownSchema = Buffer.concat([Buffer.from([0]), Buffer.from([0x7f, 0xff, 0xff, 0xff]), Buffer.from('body')]);
    const hostile = [
      Buffer.from('not avro at all \u0000\u0001\u001f'),
      unknownSchema, // the wire format, a schema id no registry has (2^31 − 1)
      Buffer.from(JSON.stringify({ aggregateVersion: 2 ** 53 + 1, type: 'device.started' })),
      Buffer.alloc(200_000, 0xff),
    ];
    await raw.send({ topic: topics.device.events, messages: hostile.map((value) => ({ key: id, value })) });
    expect(await bus.send(topics.device, { meta: meta(id), type: 'StartDevice', payload: {} })).toMatchObject({ ok: true, version: 2 });
    // Another instance takes the partitions over with another state format (its snapshots are not trusted): it
    // folds the aggregate from the log, through those records.
    await devices.stop();
    devices = processor({ ...misbehaving, stateVersion: 1 }, 'device', 'b');
    await devices.start();
    expect(await bus.send(topics.device, { meta: meta(id), type: 'StopDevice', payload: {} })).toMatchObject({ ok: true, version: 3 });
    expect(devices.peek(id)?.version).toBe(3);
    expect(devices.restores().flatMap((r) => r.folded)).toContain(partitionOf(id, 3));
  });

  test('a malformed command that can be addressed is answered 400 (If-Match past any version: finding 3)', async () => {
    const m = { ...meta(randomUUID()), expectedVersion: 1e23 };
    expect(await bus.send(topics.device, { meta: m, type: 'StartDevice', payload: {} })).toMatchObject({
      ok: false,
      status: 400,
      code: 'malformed_command',
      message: expect.stringContaining('expectedVersion'),
    });
  });

  test('a command keyed apart from its aggregate, or put on another partition: 400, dead-lettered', async () => {
    const id = randomUUID();
    const elsewhere = (partitionOf(id, 3) + 1) % 3;
    const m = { ...meta(id), replyTo: 'api-1' };
    const value = JSON.stringify({ ...m, type: 'CreateDevice', payload: create });
    await raw.send({ topic: topics.device.commands, messages: [{ key: id, value, partition: elsewhere }] });
    expect((await deadLetter((h) => h['command-id'] === m.commandId)).headers['error-code']).toBe('misrouted_command');
    const m2 = { ...meta(id), replyTo: 'api-1' };
    await raw.send({
      topic: topics.device.commands,
      messages: [{ key: randomUUID(), value: JSON.stringify({ ...m2, type: 'CreateDevice', payload: create }) }],
    });
    expect((await deadLetter((h) => h['command-id'] === m2.commandId)).headers['error-code']).toBe('misrouted_command');
    expect(await answeredBehind(id)).toBeLessThan(10_000);
  });

  test('an unknown command type: 400, dead-lettered', async () => {
    const m = meta(randomUUID());
    const reply = await bus.send(topics.device, { meta: m, type: 'FormatDisk', payload: {} });
    expect(reply).toMatchObject({ ok: false, status: 400, code: 'unknown_command', message: 'unknown command type "FormatDisk"' });
    expect((await deadLetter((h) => h['command-id'] === m.commandId)).headers['command-type']).toBe('FormatDisk');
  });

  test('a bug in a decider: 500 with the id it was logged under, dead-lettered, never retried', async () => {
    const id = randomUUID();
    const m = meta(id);
    const poisoned = bus.send(topics.device, { meta: m, type: 'Explode', payload: {} });
    const behind = answeredBehind(id);
    const reply = await poisoned;
    expect(reply).toMatchObject({ ok: false, status: 500, code: 'internal', details: { errorId: expect.any(String) } });
    await behind;
    const dl = await deadLetter((h) => h['command-id'] === m.commandId);
    expect(dl.headers['error-id']).toBe(!reply.ok && reply.details.errorId);
  });

  test('one command whose events are too large to append: 413, dead-lettered', async () => {
    const id = randomUUID();
    await answeredBehind(id);
    const m = meta(id);
    const reply = await bus.send(topics.device, { meta: m, type: 'Flood', payload: {} });
    expect(reply).toMatchObject({
      ok: false,
      status: 413,
      code: 'events_too_large',
      message: expect.stringContaining(String(MAX_COMMAND_EVENT_BYTES)),
    });
    expect((await deadLetter((h) => h['command-id'] === m.commandId)).headers['error-code']).toBe('events_too_large');
    // Nothing of it was appended: the device is still at version 1.
    expect(devices.peek(id)?.version).toBe(1);
  });

  test('a batch whose events together pass the broker’s maximum message size (1 MiB) is appended in several sends', async () => {
    // 2,000 small commands written at once (one record batch a partition, ~170 KB each), each deciding 10 events of
    // ~350 bytes: a batch's events take ~2.3 MB, more than the broker takes in one send.
    const ids: string[] = Array.from({ length: 2000 }, () => randomUUID());
    const commands = ids.map((id) => ({ key: id, value: JSON.stringify({ ...meta(id), replyTo: 'nobody', type: 'Spray', payload: {} }) }));
    await raw.send({ topic: topics.device.commands, messages: commands });
    await waitFor(async () => (ids.every((id) => devices.peek(id)?.version === 10) ? true : undefined), {
      what: '2,000 sprayed aggregates at version 10',
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    const events = await it_.readAll(topics.device.events);
    const wanted = new Set(ids);
    expect(events.filter((e) => wanted.has(e.event.aggregateId))).toHaveLength(20_000);
    const offsets = await committedAndEnd(topics.device.commands, `${topics.namespace}.device.processor`);
    for (const o of offsets) expect(o.committed).toBe(o.end);
  });

  test('metrics: command dead letters by code', async () => {
    const text = await metrics.registry.metrics();
    for (const code of ['unencodable_event', 'malformed_command', 'unknown_command', 'internal', 'events_too_large']) {
      expect(text).toMatch(
        new RegExp(`command_dead_letters_total\\{topic="${topics.device.commands.replace(/\./g, '\\.')}",code="${code}"\\} [1-9]`),
      );
    }
  });
});
