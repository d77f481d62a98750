import { randomUUID } from 'node:crypto';
import { createCommandBus } from './command-bus';
import { createCommandProcessor } from './command-processor';
import { deviceDecider } from '../services/device/decider';
import { newDevice } from '../test/fixtures';
import { testNamespace } from '../test/namespace';
import { commandMetaFor, integration } from '../test/support';

const it_ = integration();
const ns = testNamespace(it_, 'test-cp', { partitions: 3 });
const { topics } = ns;
const processors = ['a', 'b'].map((name) =>
  createCommandProcessor({
    kafka: it_.kafka,
    eventLog: it_.eventLog,
    decider: deviceDecider,
    topics: topics.device,
    repliesTopic: topics.replies,
    deadLettersTopic: topics.commandDeadLetters,
    groupId: `${topics.namespace}.device-processor`,
    instanceId: name,
    logger: it_.logger,
  }),
);
const bus = createCommandBus({ kafka: it_.kafka, repliesTopic: topics.replies, instanceId: 'api-1', logger: it_.logger });

beforeAll(async () => {
  await ns.setup();
  await Promise.all([...processors.map((p) => p.start()), bus.start()]);
});
afterAll(async () => {
  await Promise.all([...processors.map((p) => p.stop()), bus.stop()]);
  await ns.teardown();
  await it_.close();
});

const meta = commandMetaFor;
const create = { ...newDevice('u1'), orderId: null };

describe('command processor (real Kafka, two instances)', () => {
  test('decides, appends in order with contiguous versions, and replies with the position of the last event', async () => {
    const id = randomUUID();
    const created = await bus.send(topics.device, { meta: meta(id), type: 'CreateDevice', payload: create });
    expect(created).toMatchObject({ ok: true, version: 1, duplicate: false });
    const started = await bus.send(topics.device, { meta: meta(id), type: 'StartDevice', payload: {} });
    expect(started).toMatchObject({ ok: true, version: 2 });
    const again = await bus.send(topics.device, { meta: meta(id), type: 'StartDevice', payload: {} });
    expect(again).toMatchObject({ ok: false, status: 409, message: 'device is already running' });
    const stale = await bus.send(topics.device, { meta: meta(id, { expectedVersion: 1 }), type: 'StopDevice', payload: { reason: null } });
    expect(stale).toMatchObject({ ok: false, status: 409, details: { currentVersion: 2 } });

    const raw = await it_.readRaw(topics.device.events, 2);
    const decoded = await Promise.all(raw.map((r) => it_.eventLog.decodeMessage(topics.device.events, r.partition, r.message)));
    expect(decoded.map((d) => [d.event.type, d.event.aggregateVersion])).toEqual([
      ['device.created', 1],
      ['device.started', 2],
    ]);
    expect(started.ok && started.position).toEqual({
      topic: topics.device.events,
      partition: raw[1]!.partition,
      offset: raw[1]!.message.offset,
    });
  });

  test('the same command id sent again returns the first result and appends nothing', async () => {
    const id = randomUUID();
    const m = meta(id);
    const first = await bus.send(topics.device, { meta: m, type: 'CreateDevice', payload: create });
    const second = await bus.send(topics.device, { meta: m, type: 'CreateDevice', payload: create });
    expect(second).toEqual({ ...first, duplicate: true });
  });
});
