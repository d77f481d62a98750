import fc from 'fast-check';

/**
 * fast-check arbitraries built from an OpenAPI 3.1 document: the operations it lists, valid values of their
 * JSON Schemas (enums, simple patterns, bounds, required keys), and the hostile values and mutations that turn a
 * valid request into a hostile one. Generated values stay small and printable (a 10,000-character string is a
 * labelled `Hostile`, materialised only when the request is sent), so a counterexample reads as a recipe.
 */

/** The subset of JSON Schema 2020-12 that zod's toJSONSchema emits for the routes. */
export interface JsonSchema {
  type?: string;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  default?: unknown;
}

interface DocParameter {
  $ref?: string;
  name?: string;
  in?: 'path' | 'query' | 'header';
  required?: boolean;
  schema?: JsonSchema;
}

interface DocOperationObject {
  security?: Array<Record<string, string[]>>;
  parameters?: DocParameter[];
  requestBody?: { required: boolean; content: Record<string, { schema: JsonSchema }> };
}

export interface OpenApi {
  paths: Record<string, Record<string, DocOperationObject>>;
  components: { parameters: Record<string, DocParameter> };
}

/** One operation of the document, flattened: what a request to it may carry. */
export interface DocOperation {
  /** `post /devices/{id}/start` */
  readonly key: string;
  readonly method: string;
  /** The OpenAPI path, e.g. `/devices/{id}/start`. */
  readonly path: string;
  readonly pathParams: readonly string[];
  readonly query: ReadonlyArray<{ name: string; required: boolean; schema: JsonSchema }>;
  readonly headers: readonly string[];
  readonly body?: { readonly required: boolean; readonly schema: JsonSchema };
  /** Whether a token is required (no anonymous alternative in `security`). */
  readonly secured: boolean;
}

export function operationsOf(doc: OpenApi): DocOperation[] {
  const out: DocOperation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = (op.parameters ?? []).map((p) => (p.$ref ? doc.components.parameters[p.$ref.split('/').pop()!]! : p));
      out.push({
        key: `${method} ${path}`,
        method: method.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name!),
        query: params
          .filter((p) => p.in === 'query')
          .map((p) => ({ name: p.name!, required: p.required === true, schema: p.schema ?? {} })),
        headers: params.filter((p) => p.in === 'header').map((p) => p.name!),
        body: op.requestBody
          ? { required: op.requestBody.required, schema: op.requestBody.content['application/json']!.schema }
          : undefined,
        secured: (op.security ?? []).length > 0 && (op.security ?? []).every((s) => Object.keys(s).length > 0),
      });
    }
  }
  return out;
}

/** A value with a short label for reports: a 10,000-character string prints as its recipe, not its content. */
export class Hostile {
  constructor(
    readonly label: string,
    readonly value: string,
  ) {}
  [fc.toStringMethod](): string {
    return this.label;
  }
}

/** JSON text written as it is into a body (a number JSON.stringify cannot spell, 2^53+1; a deep nesting; bad JSON). */
export class Raw {
  constructor(
    readonly text: string,
    readonly label = text,
  ) {}
  [fc.toStringMethod](): string {
    return `raw(${this.label})`;
  }
}

/** The resources a request may name (the first segment of their paths). */
export type ResourceKind = 'users' | 'devices' | 'orders' | 'app-installs' | 'notifications';

/**
 * An id resolved when the request is sent: the `index`-th resource of its kind (modulo) of this tenant or
 * another's, or one made just before the request (`fresh`: in the state a create leaves it).
 */
export class Ref {
  constructor(
    readonly kind: ResourceKind,
    readonly index: number,
    readonly foreign = false,
    readonly fresh = false,
  ) {}
  [fc.toStringMethod](): string {
    return this.fresh ? `a fresh one of ${this.kind}` : `${this.foreign ? 'foreign' : 'own'} ${this.kind}[${this.index}]`;
  }
}

export type Tree = null | boolean | number | string | Hostile | Raw | Ref | Tree[] | { [key: string]: Tree };

const isObject = (t: Tree): t is { [key: string]: Tree } =>
  t !== null && typeof t === 'object' && !Array.isArray(t) && !(t instanceof Hostile) && !(t instanceof Raw) && !(t instanceof Ref);

/** The JSON text of a tree; `resolve` turns a Ref into an id. */
export function toJson(t: Tree, resolve: (r: Ref) => string): string {
  if (t instanceof Raw) return t.text;
  if (t instanceof Hostile) return JSON.stringify(t.value);
  if (t instanceof Ref) return JSON.stringify(resolve(t));
  if (Array.isArray(t)) return `[${t.map((x) => toJson(x, resolve)).join(',')}]`;
  if (isObject(t))
    return `{${Object.entries(t)
      .map(([k, v]) => `${JSON.stringify(k)}:${toJson(v, resolve)}`)
      .join(',')}}`;
  return JSON.stringify(t);
}

/** The plain value of a tree (what the server should have understood): Raw numbers as JS parses them. */
export function toValue(t: Tree, resolve: (r: Ref) => string): unknown {
  return JSON.parse(toJson(t, resolve)) as unknown;
}

/**
 * Percent-encodes a query value byte by byte, lone surrogates included (as the WTF-8 bytes a hostile client
 * would send, e.g. %ED%A0%80; encodeURIComponent throws on them).
 */
export function encodeQueryValue(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff;
    if (pair) {
      out += encodeURIComponent(s.slice(i, i + 2));
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      out += [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else {
      out += encodeURIComponent(s[i]!);
    }
  }
  return out;
}

/** A field's own generator (ids that must exist, money that can match), or undefined for the schema's. */
export type Hint = (name: string, schema: JsonSchema) => fc.Arbitrary<Tree> | undefined;

/** Characters of valid free text: ASCII, a space, Chinese, an accent and an astral emoji (a surrogate pair). */
const textUnit = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789') },
  { weight: 2, arbitrary: fc.constantFrom(' ', '-', '_', '.', ',', '(', ')', '云', '手', '机', 'é', 'ß', '😀') },
);

/** Valid values of a JSON Schema (as the document states it; the server may still refuse some: that is a 4xx). */
export function valid(schema: JsonSchema, hint: Hint, name = ''): fc.Arbitrary<Tree> {
  const own = hint(name, schema);
  if (own) return own;
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map((s) => valid(s, hint, name)));
  if (schema.enum) return fc.constantFrom(...(schema.enum as Tree[]));
  if (schema.const !== undefined) return fc.constant(schema.const as Tree);
  switch (schema.type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : -1_000_000);
      const max = schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : 1_000_000);
      // Small values most of the time (they match the fixtures), the whole range sometimes.
      return fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min, max: Math.min(max, min + 10_000) }) },
        { weight: 1, arbitrary: fc.integer({ min, max }) },
      );
    }
    case 'string': {
      const min = schema.minLength ?? 0;
      const max = schema.maxLength ?? 200;
      if (schema.format === 'email') {
        const word = fc.stringMatching(/^[a-zA-Z0-9]{1,12}$/);
        return fc.tuple(word, word, fc.constantFrom('com', 'cn', 'org')).map(([l, d, t]) => `${l}@${d}.${t}`);
      }
      if (schema.format === 'date-time') {
        return fc
          .date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2035-01-01T00:00:00Z'), noInvalidDate: true })
          .map((d) => d.toISOString());
      }
      if (schema.pattern) {
        return fc.stringMatching(new RegExp(schema.pattern, 'u')).filter((s) => s.length >= min && s.length <= max);
      }
      return fc.string({ unit: textUnit, minLength: Math.max(min, 1), maxLength: Math.max(1, Math.min(40, Math.floor(max / 2))) });
    }
    case 'array':
      return fc.array(valid(schema.items ?? {}, hint, name), { maxLength: 3 });
    case 'object': {
      const props = schema.properties ?? {};
      const model: Record<string, fc.Arbitrary<Tree>> = {};
      for (const [k, s] of Object.entries(props)) model[k] = valid(s, hint, k);
      return fc.record(model, { requiredKeys: (schema.required ?? []).filter((k) => k in props) }) as fc.Arbitrary<Tree>;
    }
    default:
      return fc.constantFrom<Tree>('x', 1, true, null);
  }
}

const u = (c: number) => `\\u${c.toString(16).padStart(4, '0')}`;

/** Strings nothing downstream should take: control characters, broken Unicode, huge, empty, blank. */
export const hostileString: fc.Arbitrary<Hostile> = fc.oneof(
  fc.constantFrom(
    new Hostile('"a\\u0000b"', 'a\u0000b'),
    new Hostile('"\\u0000"', '\u0000'),
    new Hostile('"\\ud800" (a lone high surrogate)', '\ud800'),
    new Hostile('"a\\udc00b" (a lone low surrogate)', 'a\udc00b'),
    new Hostile('"x" × 10000', 'x'.repeat(10_000)),
    new Hostile('"云" × 10000', '云'.repeat(10_000)),
    new Hostile('"😀" × 5000', '😀'.repeat(5000)),
    new Hostile('""', ''),
    new Hostile('"  \\t "', '  \t '),
    new Hostile('"a\\r\\nb"', 'a\r\nb'),
    new Hostile('"\\u001b[31mred"', '\u001b[31mred'),
    new Hostile('"a\\u007fb"', 'a\u007fb'),
    new Hostile('"\\ufeffa" (BOM)', '\ufeffa'),
    new Hostile('"\\u202ea" (RTL override)', '\u202ea'),
    new Hostile('"\\u200b" (zero width)', '\u200b'),
    new Hostile(`"'; drop table devices; --"`, "'; drop table devices; --"),
    new Hostile('"%00"', '%00'),
    new Hostile('"\\\\"', '\\'),
  ),
  fc.integer({ min: 1, max: 31 }).map((c) => new Hostile(`"a${u(c)}b"`, `a${String.fromCharCode(c)}b`)),
);

/** Numbers at and past every bound: 2^53 ± 1, negative, fractional, overflowing, exponent forms (as JSON text). */
export const hostileNumber: fc.Arbitrary<Raw> = fc.constantFrom(
  new Raw('9007199254740991', '2^53−1'),
  new Raw('9007199254740993', '2^53+1'),
  new Raw('-1'),
  new Raw('0'),
  new Raw('0.5'),
  new Raw('1e308'),
  new Raw('1e309', '1e309 (Infinity)'),
  new Raw('2147483648', '2^31'),
);

const deep = (n: number) => new Raw(`${'['.repeat(n)}${']'.repeat(n)}`, `[ nested ${n} deep ]`);

/** A value of some other type than the schema's. */
export const wrongType: fc.Arbitrary<Tree> = fc.constantFrom<Tree>(null, true, 'text', '12', [], ['a', 1], {}, { a: 1 }, 1, 0, deep(5000));

/** Whole bodies that are not the object an operation takes. */
export const hostileBody: fc.Arbitrary<Tree> = fc.constantFrom<Tree>(
  [],
  'a string',
  42,
  null,
  true,
  deep(10_000),
  new Raw('{"a":1,"a":2}', 'duplicate keys'),
  new Raw('{"__proto__":{"role":"tenant_admin"}}', '__proto__ payload'),
  new Raw('{', 'truncated'),
  new Raw('', 'empty'),
  new Raw('{"a":"\\ud800"}', 'escaped lone surrogate'),
);

/** Names of unknown fields. */
export const extraKey = fc.constantFrom('__proto__', 'constructor', 'prototype', '', 'extra', 'tenantId', 'role', 'x'.repeat(1000));

/** A change that makes a valid request hostile; `pick` chooses among the candidates (modulo), so it shrinks to the first. */
export type Mutation =
  | { readonly op: 'set'; readonly among: 'string' | 'number' | 'any'; readonly pick: number; readonly value: Tree }
  | { readonly op: 'extra'; readonly pick: number; readonly key: string; readonly value: Tree }
  | { readonly op: 'drop'; readonly pick: number }
  | { readonly op: 'body'; readonly value: Tree };

interface Slot {
  readonly where: 'body' | 'query';
  readonly parent: Tree[] | { [key: string]: Tree };
  readonly key: string | number;
  /** Absent: an optional field the schema has and the value does not (a change may set it). */
  readonly value: Tree | undefined;
  readonly required: boolean;
  readonly type: string | undefined;
}

function typeOf(schema: JsonSchema | undefined): string | undefined {
  if (!schema) return undefined;
  return schema.type ?? schema.anyOf?.find((s) => s.type !== 'null')?.type;
}

function propsOf(schema: JsonSchema | undefined): JsonSchema | undefined {
  if (!schema) return undefined;
  return schema.properties ? schema : schema.anyOf?.find((s) => s.properties);
}

/** Every value under `t` (not `t` itself) and every field its schema has that it lacks, with the schema's type and whether it is required. */
function slotsOf(t: Tree, schema: JsonSchema | undefined, where: Slot['where']): Slot[] {
  const out: Slot[] = [];
  if (Array.isArray(t)) {
    t.forEach((v, i) => {
      out.push({ where, parent: t, key: i, value: v, required: false, type: typeOf(schema?.items) });
      out.push(...slotsOf(v, schema?.items, where));
    });
  } else if (isObject(t)) {
    const s = propsOf(schema);
    for (const [k, v] of Object.entries(t)) {
      const sub = s?.properties?.[k];
      out.push({ where, parent: t, key: k, value: v, required: (s?.required ?? []).includes(k), type: typeOf(sub) });
      out.push(...slotsOf(v, sub, where));
    }
    for (const [k, sub] of Object.entries(s?.properties ?? {})) {
      if (!(k in t)) out.push({ where, parent: t, key: k, value: undefined, required: false, type: typeOf(sub) });
    }
  }
  return out;
}

const objectsOf = (t: Tree): Array<{ [key: string]: Tree }> =>
  isObject(t) ? [t, ...Object.values(t).flatMap(objectsOf)] : Array.isArray(t) ? t.flatMap(objectsOf) : [];

/**
 * Applies mutations to copies of a body and a query. A value change picks among the values of its kind (strings,
 * numbers, any), body and query alike; with none of that kind, among all.
 */
/** How many values of a kind a schema holds (its leaves: strings, numbers, or all). */
export function leavesOf(schema: JsonSchema | undefined, among: 'string' | 'number' | 'any'): number {
  if (!schema) return 0;
  const s = propsOf(schema);
  if (s?.properties) return Object.values(s.properties).reduce((n, p) => n + leavesOf(p, among), 0);
  const t = typeOf(schema);
  if (among === 'any') return 1;
  return (among === 'string' ? t === 'string' : t === 'integer' || t === 'number') ? 1 : 0;
}

export function mutate(
  body: Tree | undefined,
  query: Record<string, Tree>,
  mutations: readonly Mutation[],
  schemas: { body?: JsonSchema; query: Record<string, JsonSchema> },
): { body: Tree | undefined; query: Record<string, Tree> } {
  let b = body === undefined ? undefined : (structuredCloneTree(body) as Tree);
  const q = structuredCloneTree(query) as Record<string, Tree>;
  const querySchema: JsonSchema = { type: 'object', properties: schemas.query };
  for (const m of mutations) {
    // An operation that takes a body but was given none: a change may set one of its fields.
    if (schemas.body && b === undefined && m.op !== 'body' && m.op !== 'drop') b = {};
    const slots = () => [...(b === undefined ? [] : slotsOf(b, schemas.body, 'body')), ...slotsOf(q, querySchema, 'query')];
    switch (m.op) {
      case 'set': {
        const all = slots();
        const kind = all.filter((s) =>
          m.among === 'any' ? true : m.among === 'string' ? s.type === 'string' : s.type === 'integer' || s.type === 'number',
        );
        const among = kind.length > 0 ? kind : all;
        if (among.length === 0) {
          // Nothing to change: the value goes in as a new field of its own.
          if (b !== undefined && isObject(b)) b.hostile = m.value;
          else q.hostile = m.value;
          break;
        }
        const s = among[m.pick % among.length]!;
        (s.parent as Record<string | number, Tree>)[s.key] = m.value;
        break;
      }
      case 'extra': {
        const objects = b === undefined ? [] : objectsOf(b);
        // Defined, not assigned: `o.__proto__ = v` would set the prototype, not add a field.
        const field = { value: m.value, enumerable: true, writable: true, configurable: true };
        if (objects.length === 0) Object.defineProperty(q, m.key || 'extra', field);
        else Object.defineProperty(objects[m.pick % objects.length]!, m.key, field);
        break;
      }
      case 'drop': {
        const all = slots().filter((s) => !Array.isArray(s.parent) && s.value !== undefined);
        const required = all.filter((s) => s.required);
        const among = required.length > 0 ? required : all;
        if (among.length === 0) b = undefined;
        else {
          const s = among[m.pick % among.length]!;
          delete (s.parent as Record<string, Tree>)[s.key as string];
        }
        break;
      }
      case 'body':
        // Only an operation that takes a body gets another one (a GET cannot carry one).
        if (schemas.body) b = m.value;
        break;
    }
  }
  return { body: b, query: q };
}

function structuredCloneTree(t: Tree | Record<string, Tree>): Tree | Record<string, Tree> {
  if (Array.isArray(t)) return t.map((x) => structuredCloneTree(x) as Tree);
  if (isObject(t as Tree)) return Object.fromEntries(Object.entries(t as object).map(([k, v]) => [k, structuredCloneTree(v as Tree)]));
  return t;
}

/** Mutations of one family. */
export const mutations = {
  strings: fc.record({ op: fc.constant('set' as const), among: fc.constant('string' as const), pick: fc.nat(), value: hostileString }),
  numbers: fc.record({ op: fc.constant('set' as const), among: fc.constant('number' as const), pick: fc.nat(), value: hostileNumber }),
  types: fc.oneof(
    fc.record({ op: fc.constant('set' as const), among: fc.constant('any' as const), pick: fc.nat(), value: wrongType }),
    fc.record({
      op: fc.constant('extra' as const),
      pick: fc.nat(),
      key: extraKey,
      value: fc.oneof(wrongType, fc.constant<Tree>('x')),
    }),
    fc.record({ op: fc.constant('drop' as const), pick: fc.nat() }),
    fc.record({ op: fc.constant('body' as const), value: hostileBody }),
  ),
} satisfies Record<string, fc.Arbitrary<Mutation>>;
