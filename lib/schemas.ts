import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import avro from 'avsc';

export const SCHEMAS_DIR = path.resolve(__dirname, '..', 'schemas');

/** One event type's Avro schema as it stands in schemas/<folder>/<type>.avsc. */
export interface EventSchema {
  /** The event type, e.g. `user.created` (the file name). */
  readonly type: string;
  /** The folder under schemas/, e.g. `user`. */
  readonly folder: string;
  /** The record's full name, e.g. `cloudphone.events.user.UserCreated`. */
  readonly fullName: string;
  readonly file: string;
  readonly json: avro.Schema;
  readonly avroType: avro.Type;
  /**
   * The fields marked `"pii": true` (strings or nullable strings), sealed under the data key of the subject the
   * record names in `"piiSubject"` (a string field: the user they are about) — lib/pii.ts; none: nothing to seal.
   */
  readonly pii?: { readonly subject: string; readonly fields: readonly string[] };
}

type FieldJson = { name: string; type: unknown; pii?: unknown };
const isText = (t: unknown) => t === 'string' || (Array.isArray(t) && t.length === 2 && t[0] === 'null' && t[1] === 'string');

/** The record's personal-data marks, checked: a subject that is a string field, marked fields that are text. */
function piiOf(file: string, json: { fields?: FieldJson[]; piiSubject?: unknown }): EventSchema['pii'] {
  const fields = (json.fields ?? []).filter((f) => f.pii === true).map((f) => f.name);
  if (fields.length === 0 && json.piiSubject === undefined) return undefined;
  const subject = (json.fields ?? []).find((f) => f.name === json.piiSubject);
  if (!subject || subject.type !== 'string') throw new Error(`${file}: "piiSubject" must name a string field of the record`);
  for (const f of (json.fields ?? []).filter((x) => x.pii !== undefined)) {
    if (f.pii !== true || !isText(f.type))
      throw new Error(`${file}: field ${f.name}: "pii": true marks a string or ["null", "string"] field`);
  }
  if (fields.length === 0) throw new Error(`${file}: "piiSubject" without a field marked "pii": true`);
  return { subject: subject.name, fields };
}

export function parseSchema(file: string, folder: string, text = readFileSync(file, 'utf8')): EventSchema {
  const json = JSON.parse(text) as avro.Schema & { name: string; namespace?: string };
  const avroType = avro.Type.forSchema(json);
  const fullName = avroType.name;
  if (!fullName) throw new Error(`${file}: the schema must be a named record`);
  return { type: path.basename(file, '.avsc'), folder, fullName, file, json, avroType, pii: piiOf(file, json as never) };
}

/** Every .avsc under schemas/ (or the given folder), sorted by folder and type. */
export function loadEventSchemas(dir = SCHEMAS_DIR): EventSchema[] {
  const out: EventSchema[] = [];
  for (const folder of readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory())) {
    for (const f of readdirSync(path.join(dir, folder.name))
      .filter((n) => n.endsWith('.avsc'))
      .sort()) {
      out.push(parseSchema(path.join(dir, folder.name, f), folder.name));
    }
  }
  return out.sort((a, b) => a.folder.localeCompare(b.folder) || a.type.localeCompare(b.type));
}
