import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { createProducer } from '../lib/kafka';
import { readSideFixture, type ReadSideFixture } from '../test/read-side';
import { startProjections } from '../platform/read-side';
import { deviceProjection } from '../projections/device/projection';

/** The inspect and status CLIs, run as a user runs them, on a namespace of their own. */
let fx: ReadSideFixture;
beforeAll(async () => {
  fx = await readSideFixture('tools');
  await fx.feed(5, 7);
  const producer = createProducer(fx.it.kafka);
  await producer.connect();
  await producer.send({ topic: fx.topics.device.events, messages: [{ key: 'poison', value: Buffer.from([0xde, 0xad, 0xbe, 0xef]) }] });
  await producer.disconnect();
});
afterAll(() => fx?.close());

function cli(script: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, script), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, TOPIC_NAMESPACE: fx.cfg.topics.namespace, DATABASE_SCHEMA: fx.cfg.database.schema },
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}
const jsonLines = (out: string) =>
  out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('inspect', () => {
  test('--from-beginning --json prints every record decoded, with schema id, subject and headers; poison as hex', () => {
    const { status, stdout } = cli('inspect.ts', 'device', '--from-beginning', '--json');
    expect(status).toBe(0);
    const lines = jsonLines(stdout);
    const devices = fx.produced.filter((e) => e.type.startsWith('device.'));
    expect(lines.filter((l) => l.event)).toHaveLength(devices.length);
    const created = lines.find((l) => l.type === 'device.created')!;
    expect(created).toMatchObject({
      topic: fx.topics.device.events,
      schemaId: expect.any(Number),
      subject: expect.stringContaining(`${fx.topics.device.events}-cloudphone.events.device.DeviceCreated v1`),
      headers: { 'event-type': 'device.created' },
    });
    expect(lines.find((l) => l.key === 'poison')).toMatchObject({ hex: 'deadbeef', undecodable: expect.stringContaining('wire format') });
  });

  test('--type, --key, --partition, --offset and --limit narrow what is printed', () => {
    const started = fx.produced.filter((e) => e.type === 'device.started');
    const byType = jsonLines(cli('inspect.ts', 'device', '--from-beginning', '--json', '--type', 'device.started').stdout);
    expect(byType.map((l) => (l.event as { eventId: string }).eventId).sort()).toEqual(started.map((e) => e.eventId).sort());
    const one = fx.produced.find((e) => e.type === 'device.created')!;
    const byKey = jsonLines(cli('inspect.ts', 'device', '--from-beginning', '--json', '--key', one.aggregateId).stdout);
    expect(byKey.every((l) => l.key === one.aggregateId)).toBe(true);
    expect(byKey.length).toBe(fx.produced.filter((e) => e.aggregateId === one.aggregateId).length);
    const { partition, offset } = byKey[0] as { partition: number; offset: string };
    const limited = jsonLines(
      cli('inspect.ts', fx.topics.device.events, '--partition', String(partition), '--offset', offset, '--limit', '1', '--json').stdout,
    );
    expect(limited).toEqual([expect.objectContaining({ partition, offset, key: one.aggregateId })]);
  });

  test('an unknown topic is a clear error', () => {
    const { status, stderr } = cli('inspect.ts', 'no-such-topic');
    expect(status).toBe(1);
    expect(stderr).toContain('no topic "no-such-topic"');
  });
});

describe('status', () => {
  test('lists the namespace’s topics with end offsets, its subjects with levels, and projections with lag', async () => {
    const side = await startProjections(fx.cfg, { names: ['device'], logger: fx.it.logger });
    await fx.caughtUp(deviceProjection);
    await side.stop();
    const { status, stdout } = cli('status.ts', '--json');
    expect(status).toBe(0);
    const s = JSON.parse(stdout) as {
      topics: Array<{ topic: string; endOffsets: number }>;
      subjects: Array<{ subject: string; compatibility: string }>;
      projections: Array<{ projection: string; lag: number; deadLetters: number }>;
    };
    expect(s.topics.find((t) => t.topic === fx.topics.device.events)?.endOffsets).toBe(
      fx.produced.filter((e) => e.type.startsWith('device.')).length + 1,
    );
    expect(s.subjects.length).toBeGreaterThanOrEqual(20);
    expect(s.subjects.every((x) => x.compatibility === 'BACKWARD')).toBe(true);
    expect(s.projections.find((p) => p.projection === 'device')).toMatchObject({ lag: 0, deadLetters: 1 });
  });
});
