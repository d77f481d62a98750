import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Reads a secret the local stack keeps in its folder (the development signing key, the Kafka credentials),
 * making it first when it is missing. Written whole under another name (mode 0600), then linked into place: a
 * process that reads the file (several test workers start at once) sees no file or the whole secret, and the
 * first link wins.
 */
export function secretFile(file: string, make: () => string): string {
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(tmp, make(), { mode: 0o600 });
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
  }
  return readFileSync(file, 'utf8');
}

/**
 * A JSON file of random passwords, one per name (the stack's credentials of Kafka, the registry and PostgreSQL).
 * With `make`, the file is made when missing and given a password for each name it lacks; without, it is read as
 * it is (undefined when there is no file; a name it lacks has no password).
 */
export function passwordFile<N extends string>(
  file: string,
  names: readonly N[],
  opts: { make?: boolean } = {},
): Partial<Record<N, string>> | undefined {
  if (!opts.make && !existsSync(file)) return undefined;
  const fresh = () => randomBytes(24).toString('base64url');
  const stored = JSON.parse(secretFile(file, () => JSON.stringify(Object.fromEntries(names.map((n) => [n, fresh()])), null, 2))) as Record<
    string,
    unknown
  >;
  for (const [name, value] of Object.entries(stored)) {
    if (typeof value !== 'string' || value.length < 16 || value.length > 256)
      throw new Error(`${file}: the password of ${name} must be 16 to 256 characters`);
  }
  if (opts.make && names.some((n) => stored[n] === undefined)) {
    const all = Object.fromEntries(names.map((n) => [n, stored[n] ?? fresh()]));
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(all, null, 2), { mode: 0o600 });
    renameSync(tmp, file);
    return all as Record<N, string>;
  }
  return stored as Partial<Record<N, string>>;
}
