import type { EventSchema } from './schemas';

/**
 * Renders TypeScript types for the event schemas of one aggregate folder: one readonly interface per event
 * (the literal `type` included), one per named record or enum, and the union of the folder's events.
 * `npm run schemas:types` writes them to services/<aggregate>/events.generated.ts; a unit test keeps them current.
 */
type AvroType =
  string | AvroType[] | { type: string; name?: string; symbols?: string[]; fields?: AvroField[]; logicalType?: string; items?: AvroType };
interface AvroField {
  name: string;
  type: AvroType;
  doc?: string;
}

/** The metadata fields every event schema starts with (lib/event-log.ts EventEnvelope). */
export const ENVELOPE_FIELDS = [
  'eventId',
  'type',
  'aggregateId',
  'aggregateVersion',
  'occurredAt',
  'correlationId',
  'causationId',
  'tenantId',
];

const pascal = (s: string) => s.replace(/(^|[.\-_])(\w)/g, (_m, _sep, c: string) => c.toUpperCase());

export function renderEventTypes(folder: string, schemas: readonly EventSchema[]): string {
  const named = new Map<string, string>();

  const tsType = (t: AvroType): string => {
    if (typeof t === 'string') {
      switch (t) {
        case 'string':
          return 'string';
        case 'int':
        case 'long':
        case 'float':
        case 'double':
          return 'number';
        case 'boolean':
          return 'boolean';
        case 'null':
          return 'null';
        case 'bytes':
          return 'Buffer';
        default:
          return t.split('.').pop()!; // a named type defined earlier in the schema
      }
    }
    if (Array.isArray(t)) return t.map(tsType).join(' | ');
    if (t.type === 'record' && t.name) {
      if (!named.has(t.name)) named.set(t.name, `export interface ${t.name} {\n${fieldsOf(t.fields ?? [])}}\n`);
      return t.name;
    }
    if (t.type === 'enum' && t.name) {
      named.set(t.name, `export type ${t.name} = ${(t.symbols ?? []).map((s) => `'${s}'`).join(' | ')};\n`);
      return t.name;
    }
    if (t.type === 'array' && t.items) return `readonly (${tsType(t.items)})[]`;
    return tsType(t.type);
  };

  const fieldsOf = (fields: AvroField[]) =>
    fields.map((f) => `${f.doc ? `  /** ${f.doc} */\n` : ''}  readonly ${f.name}: ${tsType(f.type)};\n`).join('');

  const events = schemas.map((s) => {
    const json = s.json as unknown as { name: string; doc?: string; fields: AvroField[] };
    const own = json.fields.filter((f) => !ENVELOPE_FIELDS.includes(f.name));
    const body = `  readonly type: '${s.type}';\n${fieldsOf(own)}`;
    return { name: json.name, text: `/** ${json.doc ?? s.type} */\nexport interface ${json.name} extends EventEnvelope {\n${body}}\n` };
  });
  const union = `${pascal(folder)}Event`;
  const lower = `${union[0]!.toLowerCase()}${union.slice(1)}`;
  return [
    `// Generated from schemas/${folder}/*.avsc by \`npm run schemas:types\`. Do not edit.\n`,
    `import type { EventEnvelope } from '../../lib/event-log';\n`,
    ...named.values(),
    ...events.map((e) => e.text),
    `export type ${union} = ${events.map((e) => e.name).join(' | ')};\n`,
    `export type ${union}Type = ${union}['type'];\n`,
    `export const ${lower}Types = [${schemas.map((s) => `'${s.type}'`).join(', ')}] as const;\n`,
    `const ${lower}TypeSet: ReadonlySet<string> = new Set(${lower}Types);\n`,
    `/** Whether an event is one of these (a type guard: past it, the compiler knows the event's type and fields). */\n` +
      `export const is${union} = <T extends EventEnvelope>(e: T): e is T & ${union} => ${lower}TypeSet.has(e.type);\n`,
  ].join('\n');
}
