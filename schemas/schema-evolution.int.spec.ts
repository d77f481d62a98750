import { randomUUID } from 'node:crypto';
import { checkCompatibility, registerSchemas } from '../lib/bootstrap';
import { createEventLog, type AnyEvent } from '../lib/event-log';
import { createProducer } from '../lib/kafka';
import { loadEventSchemas, parseSchema, type EventSchema } from '../lib/schemas';
import { event } from '../test/events';
import { integration } from '../test/support';

const it_ = integration();
afterAll(() => it_.close());

const current = loadEventSchemas().find((s) => s.type === 'device.started')!;
type Field = { name: string; type: unknown; default?: unknown; doc?: string };
const withFields = (fields: (f: Field[]) => Field[]): EventSchema => {
  const json = current.json as unknown as { fields: Field[] };
  return parseSchema(current.file, current.folder, JSON.stringify({ ...json, fields: fields(json.fields) }));
};

describe('schema evolution against the registry', () => {
  test('a breaking change (a new field without a default) is refused by the check and by the registry', async () => {
    const topic = await it_.topic('evolution-break', 1);
    await registerSchemas(it_.registry, topic, [current]);
    const breaking = withFields((f) => [...f, { name: 'powerSource', type: 'string' }]);
    const [result] = await checkCompatibility(it_.registry, topic, [breaking]);
    expect(result).toMatchObject({ compatible: false, level: 'BACKWARD' });
    await expect(registerSchemas(it_.registry, topic, [breaking])).rejects.toThrow(/409/);
  });

  test('adding an optional field with a default passes, and events written with the old and the new schema both decode', async () => {
    const topic = await it_.topic('evolution-ok', 1);
    await registerSchemas(it_.registry, topic, [current]);
    const evolved = withFields((f) => [...f, { name: 'bootReason', type: ['null', 'string'], default: null }]);
    const [result] = await checkCompatibility(it_.registry, topic, [evolved]);
    expect(result?.compatible).toBe(true);
    const [registered] = await registerSchemas(it_.registry, topic, [evolved]);
    expect(registered?.status).toBe('registered');

    const deviceId = randomUUID();
    const base = { aggregateId: deviceId, occurredAt: 1, tenantId: 't', userId: 'u' };
    const oldEvent = event('device.started', { ...base, aggregateVersion: 1 });
    const newEvent: AnyEvent = { ...event('device.started', { ...base, aggregateVersion: 2 }), bootReason: 'scheduled' };
    const producer = createProducer(it_.kafka);
    await producer.connect();
    await createEventLog(it_.registry, [current]).append(producer, topic, [oldEvent]);
    await createEventLog(it_.registry, [evolved]).append(producer, topic, [newEvent]);
    await producer.disconnect();

    const raw = (await it_.readRaw(topic, 2)).sort((a, b) => Number(a.message.offset) - Number(b.message.offset));
    expect(raw[0]!.message.value!.readInt32BE(1)).not.toBe(raw[1]!.message.value!.readInt32BE(1));
    const newReader = createEventLog(it_.registry, [evolved]);
    const oldReader = createEventLog(it_.registry, [current]);
    const decodedNew = await Promise.all(raw.map((r) => newReader.decode(r.message.value!)));
    expect(decodedNew.map((d) => d.event)).toEqual([{ ...oldEvent, bootReason: null }, newEvent]);
    const decodedOld = await Promise.all(raw.map((r) => oldReader.decode(r.message.value!)));
    const { bootReason: _dropped, ...newAsOld } = newEvent;
    expect(decodedOld.map((d) => d.event)).toEqual([oldEvent, newAsOld]);
  });
});
