import avro from 'avsc';
import { z } from 'zod';
import { createEventLog } from './event-log';
import type { Registry } from './registry';
import { ENVELOPE_FIELDS } from './schema-types';
import { loadEventSchemas } from './schemas';
import { envelope, fields, ifMatch, MAX_MINOR_UNITS, MAX_VERSION, text, freeText, id, tenantId } from './validation';
import { commandOperations } from '../platform/commands';
import { event } from '../test/events';

/** Every leaf field of every event schema with its Avro type: `spec.cpuCores` for nested records. */
function avroLeaves(): Array<{ type: string; field: string; avroType: string }> {
  const out: Array<{ type: string; field: string; avroType: string }> = [];
  type F = { name: string; type: unknown };
  const walk = (event: string, list: F[], prefix: string) => {
    for (const f of list) {
      if (!prefix && ENVELOPE_FIELDS.includes(f.name)) continue;
      const t = Array.isArray(f.type) ? f.type.find((x) => x !== 'null') : f.type;
      if (typeof t === 'object' && t && (t as { type: string }).type === 'record') {
        walk(event, (t as { fields: F[] }).fields, `${prefix}${f.name}.`);
      } else {
        out.push({ type: event, field: `${prefix}${f.name}`, avroType: typeof t === 'string' ? t : (t as { type: string }).type });
      }
    }
  };
  for (const s of loadEventSchemas()) walk(s.type, (s.json as unknown as { fields: F[] }).fields, '');
  return out;
}

const rules = fields as Record<string, z.ZodType>;
/** An event's schemas know nothing of a registry: validation never asks it. */
const eventLog = createEventLog({} as Registry);

describe('one definition of valid input (lib/validation.ts)', () => {
  test('every field of every .avsc has its rule, and no rule names a field no event has', () => {
    const leaves = avroLeaves();
    expect(leaves.filter((l) => !(l.field in rules)).map((l) => `${l.type}: ${l.field}`)).toEqual([]);
    const named = new Set(leaves.flatMap((l) => [l.field, l.field.split('.')[0]!]));
    expect(Object.keys(rules).filter((k) => !named.has(k))).toEqual([]);
  });

  test('Avro ints and longs: every rule is bounded inside what the Avro type (and its PostgreSQL column) holds', () => {
    const ranges: Record<string, [number, number]> = { int: [-(2 ** 31), 2 ** 31 - 1], long: [-(2 ** 53 - 2), 2 ** 53 - 2] };
    for (const { field, avroType } of avroLeaves().filter((l) => l.avroType in ranges)) {
      const [min, max] = ranges[avroType]!;
      const rule = rules[field]!;
      expect([field, rule.safeParse(max + 1).success, rule.safeParse(min - 1).success]).toEqual([field, false, false]);
      expect([field, rule.safeParse(2 ** 53 - 1).success, rule.safeParse(2 ** 53 + 1).success, rule.safeParse(0.5).success]).toEqual([
        field,
        false,
        false,
        false,
      ]);
    }
    expect(rules['amount.amount']!.safeParse(MAX_MINOR_UNITS).success).toBe(true);
    expect(rules['amount.amount']!.safeParse(MAX_MINOR_UNITS + 1).success).toBe(false);
  });

  test('Avro strings: no rule takes NUL, another control character, a lone surrogate or 10,000 characters', () => {
    const hostile = ['a\u0000b', 'a\u0001b', 'a\u001bb', 'a\u007fb', 'a\ud800b', 'b\udc00', 'x'.repeat(10_000)];
    for (const { field } of avroLeaves().filter((l) => l.avroType === 'string' || l.avroType === 'enum')) {
      for (const value of hostile)
        expect([field, value.slice(0, 5), rules[field]!.safeParse(value).success]).toEqual([field, value.slice(0, 5), false]);
    }
    for (const rule of Object.values(envelope)) expect(rule.safeParse('a\u0000b').success).toBe(false);
  });

  test('one line or free text: a newline only in free text; a pair of surrogates (an emoji) is fine', () => {
    expect(text(10).safeParse('a\nb').success).toBe(false);
    expect(freeText(10).safeParse('a\nb').success).toBe(true);
    expect(freeText(10).safeParse('a\tb').success).toBe(false);
    expect(text(10).safeParse('云手机 📱').success).toBe(true);
    expect(text(10).parse('  padded ')).toBe('padded');
  });

  test('ids, tenants and headers', () => {
    expect(id.safeParse('5f0e6c1e-0000-4000-8000-000000000000').success).toBe(true);
    expect(id.safeParse('d'.repeat(129)).success).toBe(false);
    expect(id.safeParse('a b').success).toBe(false);
    expect(tenantId.safeParse('acme').success).toBe(true);
    for (const bad of ['Acme', 'a\tb', 'a b', 't'.repeat(65), '']) expect(tenantId.safeParse(bad).success).toBe(false);
    expect(ifMatch.parse('"3"')).toBe(3);
    expect(ifMatch.parse('W/"12"')).toBe(12);
    expect(ifMatch.safeParse('"99999999999999999999999"').success).toBe(false);
    expect(ifMatch.safeParse(`"${MAX_VERSION + 1}"`).success).toBe(false);
  });

  test('the API takes each body field by the same rule the encoder checks (the OpenAPI document shows the same schema)', () => {
    const json = (schema: z.ZodType) => JSON.stringify(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }));
    let compared = 0;
    for (const op of commandOperations) {
      const shape = (op.body as z.ZodObject | undefined)?.shape as Record<string, z.ZodType> | undefined;
      for (const [name, schema] of Object.entries(shape ?? {})) {
        const rule = rules[name];
        if (!rule) continue;
        // The route may make a field optional or nullable; the rule inside is the one.
        let inner: z.ZodType = schema;
        while (inner instanceof z.ZodOptional || inner instanceof z.ZodNullable) inner = inner.unwrap() as z.ZodType;
        expect([op.path, name, json(inner)]).toEqual([op.path, name, json(rule)]);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(20);
  });

  test('the encoder refuses an event whose fields break their rules, naming the field', () => {
    const created = event('device.created', {
      eventId: '5f0e6c1e-0000-4000-8000-000000000000',
      aggregateId: 'd-1',
      occurredAt: 1,
      correlationId: 'c-1',
      userId: 'u-1',
    });
    expect(eventLog.validate(created)).toEqual([]);
    expect(eventLog.validate({ ...created, name: 'nul\u0000device' })).toEqual([
      expect.stringMatching(/^name: must not hold control characters/),
    ]);
    expect(eventLog.validate({ ...created, tenantId: 'x'.repeat(8000) })[0]).toMatch(/^tenantId: .*\(8002 characters\)\)$/);
    expect(eventLog.validate({ ...created, spec: { ...created.spec, cpuCores: 2 ** 40 } }).length).toBeGreaterThan(0);
    // Avro alone would take a NUL: the rules are what keep it out of the log.
    expect(avro.Type.forSchema('string').isValid('nul\u0000')).toBe(true);
  });
});
