import { randomUUID } from 'node:crypto';
import { createEventLog } from '../lib/event-log';
import { createProducer } from '../lib/kafka';
import { ERASED, type Vault } from '../lib/pii';
import { CHECKPOINTS } from '../lib/projection-worker';
import { event } from '../test/events';
import { readSideFixture } from '../test/read-side';
import { billingProjection } from './billing/projection';
import { deviceProjection } from './device/projection';
import { startProjections } from '../platform/read-side';

let fx: Awaited<ReturnType<typeof readSideFixture>>;
beforeAll(async () => {
  fx = await readSideFixture('worker');
});
afterAll(() => fx?.close());

describe('projection workers on Kafka and PostgreSQL', () => {
  test('build the read models from the topics; a restarted worker resumes from its checkpoints and applies each event once', async () => {
    const first = await fx.feed(20, 1);
    const side = await startProjections(fx.cfg, { names: ['device', 'billing'], logger: fx.it.logger });
    await fx.caughtUp(deviceProjection);
    await fx.caughtUp(billingProjection);
    await side.stop();
    const second = await fx.feed(20, 2);
    const again = await startProjections(fx.cfg, { names: ['device', 'billing'], logger: fx.it.logger });
    try {
      await fx.caughtUp(deviceProjection);
      await fx.caughtUp(billingProjection);
      expect(await fx.readModel(deviceProjection)).toEqual(fx.reference(deviceProjection));
      expect(await fx.readModel(billingProjection)).toEqual(fx.reference(billingProjection));
      const applied = await fx.db(CHECKPOINTS).where({ projection: 'device' }).sum({ n: 'applied_events' }).first();
      const expected = fx.produced.filter((e) => !e.type.startsWith('order.')).length;
      expect([first + second > 0, Number(applied?.n)]).toEqual([true, expected]);
    } finally {
      await again.stop();
    }
  });

  test('an undecodable message goes to the dead-letter topic with its source and error; the projection goes on', async () => {
    const producer = createProducer(fx.it.kafka);
    await producer.connect();
    await producer.send({ topic: fx.topics.device.events, messages: [{ key: 'poison-1', value: Buffer.from('not avro at all') }] });
    await producer.disconnect();
    await fx.feed(3, 3);
    const side = await startProjections(fx.cfg, { names: ['device'], logger: fx.it.logger });
    try {
      await fx.caughtUp(deviceProjection);
      expect(await fx.readModel(deviceProjection)).toEqual(fx.reference(deviceProjection));
      const dead = await fx.db(CHECKPOINTS).where({ projection: 'device' }).sum({ n: 'dead_letters' }).first();
      expect(Number(dead?.n)).toBe(1);
      const [letter] = await fx.it.readRaw(fx.topics.deadLetters, 1);
      const headers = Object.fromEntries(Object.entries(letter!.message.headers ?? {}).map(([k, v]) => [k, String(v)]));
      expect(headers).toMatchObject({
        'dlq-projection': 'device',
        'dlq-source-topic': fx.topics.device.events,
        'dlq-error': expect.stringContaining('wire format'),
      });
      expect(letter!.message.value?.toString()).toBe('not avro at all');
      expect(side.metrics.registry.getSingleMetric('projection_dead_letters_total')).toBeDefined();
    } finally {
      await side.stop();
    }
  });

  test('an event whose handler fails for good (a tier with no metering rate) is dead-lettered; the rest of the batch is applied', async () => {
    const producer = createProducer(fx.it.kafka);
    await producer.connect();
    const base = {
      aggregateId: 'gold-device',
      correlationId: 'c',
      causationId: null,
      tenantId: 'acme',
      occurredAt: Date.UTC(2026, 10, 25),
    };
    const spec = { cpuCores: 2, memoryMb: 4096, storageGb: 32, androidVersion: '13' };
    const events = [
      {
        ...base,
        eventId: randomUUID(),
        type: 'device.created',
        aggregateVersion: 1,
        userId: 'u-gold',
        name: 'g',
        spec,
        tier: 'gold',
        region: 'cn-east',
        orderId: null,
      },
      { ...base, eventId: randomUUID(), type: 'device.started', aggregateVersion: 2, userId: 'u-gold' },
      { ...base, eventId: randomUUID(), type: 'device.updated', aggregateVersion: 3, userId: 'u-gold', name: 'renamed', spec: null },
    ];
    // A tier the platform refuses today, as an older version may have written it: encoded without the field rules.
    await createEventLog(fx.it.registry, undefined, { checkRules: false }).append(producer, fx.topics.device.events, events);
    fx.produced.push(...events);
    await producer.disconnect();
    const side = await startProjections(fx.cfg, { names: ['billing'], logger: fx.it.logger });
    try {
      await fx.caughtUp(billingProjection);
      expect(await fx.db('billing_devices').where({ device_id: 'gold-device' }).first()).toMatchObject({
        tier: 'gold',
        version: 3,
        open_session_id: null,
      });
      const letters = await fx.it.readAll(fx.topics.deadLetters);
      const gold = letters.filter((l) => l.headers['dlq-projection'] === 'billing' && l.event.aggregateId === 'gold-device');
      expect(gold).toHaveLength(1);
      expect(gold[0]).toMatchObject({
        event: { type: 'device.started' },
        headers: { 'dlq-error': 'no metering rate for tier "gold" in config/tier-rates.json' },
      });
    } finally {
      await side.stop();
    }
  });

  test('scale-out: two workers share the partitions; stopping one hands its partitions over without loss or duplication', async () => {
    await fx.feed(15, 4);
    const a = await startProjections(fx.cfg, { names: ['device'], logger: fx.it.logger, instanceId: 'a' });
    const b = await startProjections(fx.cfg, { names: ['device'], logger: fx.it.logger, instanceId: 'b' });
    await fx.feed(15, 5);
    await a.stop();
    await fx.feed(15, 6);
    try {
      await fx.caughtUp(deviceProjection);
      expect(await fx.readModel(deviceProjection)).toEqual(fx.reference(deviceProjection));
      const applied = await fx.db(CHECKPOINTS).where({ projection: 'device' }).sum({ n: 'applied_events' }).first();
      expect(Number(applied?.n)).toBe(fx.produced.filter((e) => !e.type.startsWith('order.')).length);
    } finally {
      await b.stop();
    }
  });
});

/**
 * Forged personal data straight into the user topic (lib/pii.ts): whatever a sealed-looking field holds, the worker
 * reads it as [erased] — never an error, a dead letter or a stopped partition — and goes on with the next events.
 */
describe('forged sealed values on the topic', () => {
  let forged: Awaited<ReturnType<typeof readSideFixture>>;
  beforeAll(async () => {
    forged = await readSideFixture('worker-forged');
  });
  afterAll(() => forged?.close());

  test('a tampered value, another user’s, a malformed subject, NUL and control characters: [erased], no dead letter', async () => {
    const vault = forged.it.vault;
    const [victim, forger] = [`u-${randomUUID()}`, `u-${randomUUID()}`];
    const tampered = await vault.seal(forger, 'forger@example.com');
    const flipped = `${tampered.slice(0, -2)}${tampered.at(-2) === 'A' ? 'B' : 'A'}${tampered.at(-1)}`;
    // A producer that writes its strings as they are (no sealing): what a hostile client of the topic can send.
    const asIs: Vault = {
      seal: async (_subject, text) => text,
      open: async (value) => value,
      openNow: (value) => value,
      destroy: async () => undefined,
      forget: () => undefined,
      close: async () => undefined,
    };
    const values = {
      username: await vault.seal(victim, 'someone-else'), // sealed for another user below: not theirs to read
      email: flipped, // the forger's own value, tampered
      phone: `enc:v1:${forger}\u0000:${'A'.repeat(40)}`, // a subject with NUL: no key is ever looked up for it
    };
    const events = [
      event('user.created', { aggregateId: forger, tenantId: 'acme', ...values }),
      event('user.updated', {
        aggregateId: forger,
        aggregateVersion: 2,
        tenantId: 'acme',
        username: 'enc:v1:\u0001\u001f:\ud800',
        email: `enc:v1:${forger}:${'x'.repeat(100_000)}`,
        phone: null,
        previousUsername: null,
        previousEmail: null,
      }),
      event('device.created', { aggregateId: `d-${randomUUID()}`, tenantId: 'acme', userId: forger }),
    ];
    const producer = createProducer(forged.it.kafka);
    await producer.connect();
    try {
      const log = createEventLog(forged.it.registry, undefined, { vault: asIs, checkRules: false });
      await log.append(producer, forged.topics.user.events, events.slice(0, 2));
      await log.append(producer, forged.topics.device.events, events.slice(2));
    } finally {
      await producer.disconnect();
    }
    const side = await startProjections(forged.cfg, { names: ['device'], logger: forged.it.logger });
    try {
      await forged.caughtUp(deviceProjection);
      expect(await forged.db('device_users').where({ user_id: forger }).first()).toMatchObject({
        username: ERASED,
        email: ERASED,
        phone: ERASED,
      });
      expect(await forged.db('devices').where({ user_id: forger }).first()).toMatchObject({ username: ERASED, email: ERASED });
      const dead = await forged.db(CHECKPOINTS).where({ projection: 'device' }).sum({ n: 'dead_letters' }).first();
      expect(Number(dead?.n ?? 0)).toBe(0);
    } finally {
      await side.stop();
    }
  });
});
