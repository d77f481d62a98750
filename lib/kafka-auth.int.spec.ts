import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { createConsumer, createKafka, createProducer, usernameOf, type Principal } from './kafka';
import { testNamespace } from '../test/namespace';
import { integration, unique, waitFor } from '../test/support';

/**
 * Kafka refuses strangers and holds each component to what it needs (issue 13): SASL/SCRAM on the broker's only
 * client listener, the StandardAuthorizer, and the ACLs bootstrap grants per namespace (lib/acls.ts).
 */
const it_ = integration();
const ns = testNamespace(it_, 'test-kafka-auth', { partitions: 1 });
const { topics } = ns;
const kafkaAs = (principal: Principal) => createKafka(it_.cfg, it_.logger, principal, unique(`test-${principal}`));
const message = { key: 'k1', value: '{"type":"anything"}' };
const opened: Array<{ disconnect(): Promise<void> }> = [];

/** A producer of the principal that gives up soon (the platform's producers retry forever). */
async function producerOf(principal: Principal): Promise<Producer> {
  const producer = createProducer(kafkaAs(principal), { retry: { retries: 1 } });
  opened.push(producer);
  await producer.connect();
  return producer;
}

/** Writes one message as the principal: `written`, or why not (a principal allowed to write nowhere is refused its producer id). */
async function write(principal: Principal, topic: string): Promise<string> {
  try {
    await (await producerOf(principal)).send({ topic, messages: [message] });
    return 'written';
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  }
}

const stranger = (sasl?: { username: string; password: string }) =>
  new Kafka({
    clientId: 'stranger',
    brokers: it_.cfg.kafka.brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    retry: { retries: 0 },
    ...(sasl ? { sasl: { mechanism: 'scram-sha-512' as const, ...sasl } } : {}),
  });

beforeAll(() => ns.setup());

afterAll(async () => {
  await Promise.all(opened.map((c) => c.disconnect().catch(() => undefined)));
  await ns.teardown();
  await it_.close();
});

describe('authentication', () => {
  test('a client without credentials is refused before it can list, read or write anything', async () => {
    const admin: Admin = stranger().admin();
    await expect(admin.connect().then(() => admin.listTopics())).rejects.toThrow();
    await admin.disconnect().catch(() => undefined);
    const producer = stranger().producer();
    await expect(producer.connect().then(() => producer.send({ topic: topics.user.commands, messages: [message] }))).rejects.toThrow();
    await producer.disconnect().catch(() => undefined);
  });

  test('a known principal with a wrong password is refused (SASL authentication failed)', async () => {
    const admin = stranger({ username: usernameOf('admin'), password: 'not-the-password-at-all' }).admin();
    await expect(admin.connect()).rejects.toThrow(/SASL SCRAM SHA512 authentication failed|Authentication failed/i);
    await admin.disconnect().catch(() => undefined);
  });
});

describe('least privilege per component (lib/acls.ts)', () => {
  test.each<[Principal, string]>([
    ['api', 'an event topic'],
    ['projections', 'an event topic'],
    ['policies', 'an event topic'],
    ['tools', 'an event topic'],
  ])('the %s principal cannot write %s', async (principal) => {
    expect(await write(principal, topics.user.events)).toMatch(/^refused: .*authorization failed|not authorized/i);
  });

  test('the commands principal writes event topics; the API principal writes command topics and nothing else', async () => {
    expect(await write('commands', topics.user.events)).toBe('written');
    expect(await write('projections', topics.user.commands)).toMatch(/^refused: .*not authorized/i);
    expect(await write('api', topics.user.commands)).toBe('written');
    expect(await write('api', topics.replies)).toMatch(/^refused: .*not authorized/i);
    expect(await write('api', topics.commandDeadLetters)).toMatch(/^refused: .*not authorized/i);
  });

  test('only the admin principal creates or deletes topics', async () => {
    for (const principal of ['api', 'commands', 'projections', 'tools'] as const) {
      const admin = kafkaAs(principal).admin();
      opened.push(admin);
      await admin.connect();
      await expect(
        admin.createTopics({ topics: [{ topic: `${topics.namespace}.intruder-${principal}`, numPartitions: 1 }] }),
      ).rejects.toMatchObject({ errors: [{ type: 'TOPIC_AUTHORIZATION_FAILED' }] });
      await expect(admin.deleteTopics({ topics: [topics.user.events], timeout: 3000 })).rejects.toThrow();
    }
    expect(await (await it_.admin()).listTopics()).toContain(topics.user.events);
  });

  test('the projections principal reads event topics only under its own groups; tools read every topic of the namespace', async () => {
    const read = async (principal: Principal, group: string, topic: string) => {
      const consumer = createConsumer(kafkaAs(principal), group, { retry: { retries: 0 } });
      opened.push(consumer);
      const got: string[] = [];
      const failed: Error[] = [];
      consumer.on(consumer.events.CRASH, ({ payload }) => void failed.push(payload.error));
      try {
        await consumer.connect();
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({ eachMessage: async ({ message: m }) => void got.push(String(m.key)) });
      } catch (err) {
        return `refused: ${(err as Error).message}`;
      }
      return waitFor(() => (got.length > 0 ? 'read' : failed.length > 0 ? `refused: ${failed[0]!.message}` : undefined), {
        what: `${principal} reading ${topic}`,
        timeoutMs: 20_000,
      });
    };
    await expect(read('projections', `${topics.namespace}.projection.test`, topics.user.commands)).resolves.toMatch(
      /refused: .*not authorized/i,
    );
    // kafkajs reports the GROUP_AUTHORIZATION_FAILED of FindCoordinator as not finding the coordinator.
    await expect(read('projections', `${topics.namespace}.policy.someone-elses`, topics.user.events)).resolves.toMatch(
      /refused: .*(not authorized|failed to find group coordinator)/i,
    );
    await expect(read('projections', `${topics.namespace}.projection.test`, topics.user.events)).resolves.not.toMatch(/refused/);
    await expect(read('tools', `${topics.namespace}.tools.test`, topics.user.commands)).resolves.toBe('read');
  });
});
