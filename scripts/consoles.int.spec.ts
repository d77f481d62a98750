import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { saslFor } from '../lib/kafka';
import { readSideFixture, type ReadSideFixture } from '../test/read-side';

/**
 * The console tools the README shows, on a namespace of their own: Kafka's own (through `npm run kafka`) print the
 * raw wire format; kafka-console (npm) sees the same offsets, and its consume corrupts binary Avro (decoding is
 * `npm run inspect`'s job).
 */
let fx: ReadSideFixture;
beforeAll(async () => {
  fx = await readSideFixture('consoles');
  await fx.feed(2, 11);
});
afterAll(() => fx?.close());

const root = path.resolve(__dirname, '..');
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const res = spawnSync(cmd, args, { cwd: root, timeout: 120_000, env: { ...process.env, ...env } });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr.toString('utf8') };
}
const kafkaTool = (...args: string[]) => run(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, 'kafka.ts'), ...args]);
/** kafka-console as the tools principal: its SASL settings from the environment (KAFKA_USERNAME…), not the arguments. */
const kafkaConsole = (...args: string[]) => {
  const sasl = saslFor(fx.cfg, 'tools')!;
  return run(process.execPath, [require.resolve('kafka-console/build/cli.js'), '-b', fx.cfg.kafka.brokers[0]!, ...args], {
    KAFKA_MECHANISM: sasl.mechanism,
    KAFKA_USERNAME: sasl.username,
    KAFKA_PASSWORD: sasl.password,
  });
};

describe('npm run kafka (Kafka’s own console tools from the cached jars)', () => {
  test('--help lists the tools; an unknown tool is a clear error', () => {
    expect(kafkaTool('--help')).toMatchObject({ status: 0, stdout: expect.anything() });
    expect(kafkaTool('--help').stdout.toString()).toContain('kafka-console-consumer');
    expect(kafkaTool('kafka-nothing')).toMatchObject({ status: 1, stderr: expect.stringContaining('unknown tool "kafka-nothing"') });
  });

  test('kafka-topics describes our topic', () => {
    const r = kafkaTool('kafka-topics', '--bootstrap-server', fx.cfg.kafka.brokers[0]!, '--describe', '--topic', fx.topics.user.events);
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toMatch(
      new RegExp(`Topic: ${fx.topics.user.events.replace(/\./g, '\\.')}\\s+TopicId: \\S+\\s+PartitionCount: 3`),
    );
    expect(r.stdout.toString()).toContain('retention.ms=-1');
  });

  test('the tools authenticate as the read-only tools principal: creating a topic is refused; as admin, the ACLs are listed', () => {
    const create = kafkaTool(
      'kafka-topics',
      '--bootstrap-server',
      fx.cfg.kafka.brokers[0]!,
      '--create',
      '--topic',
      `${fx.topics.namespace}.tools.x`,
    );
    expect(create.status).not.toBe(0);
    expect(create.stderr + create.stdout.toString()).toMatch(/TopicAuthorizationException|not authorized/i);
    const acls = kafkaTool(
      '--as',
      'admin',
      'kafka-acls',
      '--bootstrap-server',
      fx.cfg.kafka.brokers[0]!,
      '--list',
      '--topic',
      fx.topics.user.events,
    );
    expect(acls.status).toBe(0);
    expect(acls.stdout.toString()).toContain('principal=User:cloudphone-projections');
  });

  test('kafka-console-consumer prints the raw record: key, then the wire format (magic byte 0, schema id, Avro)', () => {
    const r = kafkaTool(
      'kafka-console-consumer',
      '--bootstrap-server',
      fx.cfg.kafka.brokers[0]!,
      '--topic',
      fx.topics.user.events,
      '--from-beginning',
      '--max-messages',
      '1',
      '--property',
      'print.key=true',
    );
    expect(r.status).toBe(0);
    const tab = r.stdout.indexOf(0x09);
    const key = r.stdout.subarray(0, tab).toString('utf8');
    const event = fx.produced.find((e) => e.aggregateId === key && e.type.startsWith('user.'));
    expect(event).toBeDefined();
    expect(r.stdout[tab + 1]).toBe(0); // magic byte
    expect(r.stdout.subarray(tab + 1).includes(Buffer.from(event!.eventId))).toBe(true);
  });
});

describe('kafka-console (npm)', () => {
  test('topic:offsets shows the end offsets of every partition', () => {
    const r = kafkaConsole('topic:offsets', fx.topics.user.events);
    expect(r.status).toBe(0);
    const lines = r.stdout
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { partition: number; high: string });
    expect(lines.map((l) => l.partition).sort()).toEqual([0, 1, 2]);
    expect(lines.reduce((n, l) => n + Number(l.high), 0)).toBe(fx.produced.filter((e) => e.type.startsWith('user.')).length);
  });

  test('consume hands values over as UTF-8 strings: binary Avro comes out corrupted', async () => {
    const r = kafkaConsole(
      'consume',
      fx.topics.user.events,
      '--from',
      '0',
      '--count',
      '1',
      '--data-format',
      'raw',
      '-g',
      `${fx.topics.namespace}.tools.kc`,
    );
    expect(r.status).toBe(0);
    const record = JSON.parse(r.stdout.toString().trim().split('\n')[0]!) as { partition: number; offset: string; value: string };
    // The occurredAt varint (a timestamp in ms) is not valid UTF-8: replaced by U+FFFD, the original bytes are lost.
    expect(record.value).toContain('\uFFFD');
    const count = fx.produced.filter((e) => e.type.startsWith('user.')).length;
    const original = (await fx.it.readRaw(fx.topics.user.events, count)).find(
      (m) => m.partition === record.partition && m.message.offset === record.offset,
    )!.message.value!;
    expect(Buffer.from(record.value, 'utf8').equals(original)).toBe(false);
  });
});
