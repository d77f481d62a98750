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
}

export function parseSchema(file: string, folder: string, text = readFileSync(file, 'utf8')): EventSchema {
  const json = JSON.parse(text) as avro.Schema & { name: string; namespace?: string };
  const avroType = avro.Type.forSchema(json);
  const fullName = avroType.name;
  if (!fullName) throw new Error(`${file}: the schema must be a named record`);
  return { type: path.basename(file, '.avsc'), folder, fullName, file, json, avroType };
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
