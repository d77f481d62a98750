import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { ENVELOPE_FIELDS, renderEventTypes } from '../lib/schema-types';
import { loadEventSchemas } from '../lib/schemas';
import { eventTopics, topicsFor } from '../lib/topics';
import { generatedTypesFile } from '../scripts/schemas-files';
import { envelope } from '../test/events';

const schemas = loadEventSchemas();
type Field = { name: string; type: unknown; default?: unknown };
const fieldsOf = (s: (typeof schemas)[number]) => (s.json as unknown as { fields: Field[] }).fields;

describe('the event schemas in schemas/', () => {
  test('cover the whole catalogue: 18 event types over the five aggregate topics, plus the reservations', () => {
    expect(
      schemas
        .filter((s) => s.folder !== 'reservation')
        .map((s) => s.type)
        .sort(),
    ).toEqual(
      [
        'app.install.completed',
        'app.install.failed',
        'app.install.requested',
        'device.created',
        'device.deleted',
        'device.started',
        'device.stopped',
        'device.updated',
        'notification.read',
        'notification.sent',
        'order.cancelled',
        'order.created',
        'order.paid',
        'order.refunded',
        'user.created',
        'user.deleted',
        'user.erased',
        'user.status.changed',
        'user.updated',
      ].sort(),
    );
    expect(schemas.filter((s) => s.folder === 'reservation').map((s) => s.type)).toEqual(['reservation.claimed', 'reservation.released']);
    for (const topic of eventTopics(topicsFor())) expect(schemas.some((s) => s.folder === topic.schemaDir)).toBe(true);
  });

  test.each(schemas.map((s) => [s.type, s] as const))('%s starts with the event metadata', (_type, s) => {
    const fields = fieldsOf(s).slice(0, ENVELOPE_FIELDS.length);
    expect(fields.map((f) => f.name)).toEqual(ENVELOPE_FIELDS);
    const byName = Object.fromEntries(fields.map((f) => [f.name, f.type]));
    expect(byName.eventId).toEqual({ type: 'string', logicalType: 'uuid' });
    expect(byName.aggregateVersion).toBe('long');
    expect(byName.occurredAt).toEqual({ type: 'long', logicalType: 'timestamp-millis' });
    expect(byName.causationId).toEqual(['null', 'string']);
    expect(byName.tenantId).toEqual(['null', 'string']);
  });

  test('money is always integer minor units plus a currency, never a float', () => {
    const money = schemas.flatMap((s) => fieldsOf(s).filter((f) => (f.type as { name?: string })?.name === 'Money'));
    expect(money.length).toBe(3);
    for (const f of money) {
      expect((f.type as { fields: Field[] }).fields).toEqual([
        expect.objectContaining({ name: 'amount', type: 'long' }),
        expect.objectContaining({ name: 'currency', type: 'string' }),
      ]);
    }
    const floats = JSON.stringify(schemas.map((s) => s.json)).match(/"(float|double)"/g);
    expect(floats).toBeNull();
  });

  test('every optional field is a union with null first and a null default (so adding one is backward compatible)', () => {
    for (const s of schemas) {
      for (const f of fieldsOf(s).filter((x) => Array.isArray(x.type))) {
        expect([s.type, f.name, (f.type as unknown[])[0], f.default]).toEqual([s.type, f.name, 'null', null]);
      }
    }
  });

  test.each([...new Set(schemas.map((s) => s.folder))])('the generated types of %s are current (run npm run schemas:types)', (folder) => {
    const expected = renderEventTypes(
      folder,
      schemas.filter((s) => s.folder === folder),
    );
    expect(readFileSync(generatedTypesFile(folder), 'utf8')).toBe(expected);
  });

  test('a reader of the current schema reads an event written before an optional field was added', () => {
    const s = schemas.find((x) => x.type === 'user.created')!;
    const older = avro.Type.forSchema({ ...(s.json as object), fields: fieldsOf(s).filter((f) => f.name !== 'phone') } as avro.Schema);
    const written = older.toBuffer({ ...sampleEnvelope, type: 'user.created', username: 'a', email: 'a@b.c', status: 'active' });
    const read = s.avroType.fromBuffer(written, s.avroType.createResolver(older));
    expect(read).toMatchObject({ username: 'a', phone: null });
  });
});

const sampleEnvelope = envelope({ eventId: '00000000-0000-4000-8000-000000000000', aggregateId: 'u', occurredAt: 0, tenantId: null });
