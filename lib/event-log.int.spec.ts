import { randomUUID } from 'node:crypto';
import { registerSchemas } from './bootstrap';
import { EventEncodingError, readWireFormat, type AnyEvent } from './event-log';
import { createProducer } from './kafka';
import { loadEventSchemas } from './schemas';
import { subjectFor } from './topics';
import { event } from '../test/events';
import { integration } from '../test/support';

const it_ = integration();
const schemas = loadEventSchemas().filter((s) => s.type === 'user.created' || s.type === 'user.updated');
const producer = createProducer(it_.kafka);

beforeAll(() => producer.connect());
afterAll(async () => {
  await producer.disconnect();
  await it_.close();
});

const userId = randomUUID();
const meta = (version: number) => ({
  aggregateId: userId,
  aggregateVersion: version,
  occurredAt: Date.UTC(2026, 10, 25, 12, 0, version),
  correlationId: randomUUID(),
  tenantId: 'tenant-a',
});
const created = event('user.created', { ...meta(1), username: 'alice', email: 'alice@example.com' });
const updated = event('user.updated', {
  ...meta(2),
  email: 'alice@new.example.com',
  phone: '+8613800000000',
  previousEmail: 'alice@example.com',
});

describe('event log', () => {
  test('round-trips events of two types through one topic in the Confluent wire format', async () => {
    const topic = await it_.topic('event-log');
    const ids = await registerSchemas(it_.registry, topic, schemas);
    expect(ids.map((r) => r.subject).sort()).toEqual(schemas.map((s) => subjectFor(topic, s.fullName)).sort());

    await it_.eventLog.append(producer, topic, [created, updated]);
    const raw = await it_.readRaw(topic, 2);

    const expectedIds = new Map(ids.map((r) => [r.type, r.id]));
    const byOffset = raw.sort((a, b) => Number(a.message.offset) - Number(b.message.offset));
    expect(new Set(byOffset.map((r) => r.partition)).size).toBe(1); // one key, one partition, in order
    for (const [i, event] of [created, updated].entries()) {
      const value = byOffset[i]!.message.value!;
      expect(value[0]).toBe(0);
      expect(value.readInt32BE(1)).toBe(expectedIds.get(event.type));
      expect(readWireFormat(value).schemaId).toBe(expectedIds.get(event.type));
      const decoded = await it_.eventLog.decodeMessage(topic, byOffset[i]!.partition, byOffset[i]!.message);
      expect(decoded.event).toEqual(event);
      expect(decoded.key).toBe(userId);
      expect(decoded.headers['event-type']).toBe(event.type);
    }
  });

  test('refuses an event that does not match its schema, naming the field, and writes nothing', async () => {
    const topic = await it_.topic('event-log-bad');
    await registerSchemas(it_.registry, topic, schemas);
    const bad = { ...created, email: 42 } as unknown as AnyEvent;
    await expect(it_.eventLog.append(producer, topic, [bad])).rejects.toThrow(EventEncodingError);
    await expect(it_.eventLog.append(producer, topic, [bad])).rejects.toThrow(/email: 42/);
    const offsets = await it_.endOffsets(topic);
    expect(offsets.every((o) => o.high === '0')).toBe(true);
  });
});
