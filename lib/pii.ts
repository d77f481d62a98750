import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Config } from './config';
import { createDb, type Db } from './db';
import { InfraError } from './errors';
import { secretFile } from './secret-file';
import { ID_PATTERN } from './validation';

/**
 * Crypto-shredding of personal data (issue 16). The fields an event schema marks `"pii": true` reach Kafka only as
 * ciphertext: AES-256-GCM under a data key of their own subject (the user they are about), written as
 * `enc:v1:<subject>:<base64url of iv | tag | ciphertext>`. The data keys live in PostgreSQL (`pii_keys`), each
 * wrapped (AES-256-GCM again) by the master key of the deployment. Erasure destroys the subject's data key: every
 * copy of its ciphertext, in every segment, replica and backup of the log, is noise from then on, and decodes as
 * `ERASED` — never an error, never a dead letter.
 */

/** What an erased value reads as, in the log and in every read model. */
export const ERASED = '[erased]';

const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** How long a process trusts a data key it read (another process may destroy it; a decoded user.erased evicts it at once). */
const KEY_TTL_MS = 60_000;
/** Keys a process keeps at most (a restore of many users reads each once). */
const MAX_CACHED = 100_000;
/**
 * Subjects whose opened values a process keeps (up to 16 values each): the projections of one process (and the
 * three rebuilds of a bench) decode the same user events, and each would otherwise decrypt every value again. An
 * opened value is only served while its subject's key is cached and not destroyed, so it goes with the key (TTL,
 * erasure, `forget`: the subject's values are dropped in one step).
 */
const MAX_OPENED_SUBJECTS = 10_000;
const OPENED_PER_SUBJECT = 16;

export const isSealed = (value: unknown): value is string => typeof value === 'string' && value.startsWith(PREFIX);

/**
 * The subject a sealed value names (the text between the prefix and the last colon), or null if it is not sealed
 * or names no valid id (a hostile value never reaches the key store's query).
 */
export function subjectOf(sealed: string): string | null {
  if (!isSealed(sealed)) return null;
  const subject = sealed.slice(PREFIX.length, sealed.lastIndexOf(':'));
  return ID_PATTERN.test(subject) ? subject : null;
}

function seal(key: Buffer, aad: string, data: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(data), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** The plaintext of a sealed buffer, or null when it does not open with this key (tampered, or another key). */
function open(key: Buffer, aad: string, data: Buffer): Buffer | null {
  if (data.length < IV_BYTES + TAG_BYTES) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(data.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(data.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    return null;
  }
}

/**
 * The master key: 32 bytes, base64 in a file (PII_MASTER_KEY_FILE). In development the stack makes one into its
 * folder; in production the file must exist (lib/config.ts refuses to start without PII_MASTER_KEY_FILE).
 */
export function readMasterKey(file: string, opts: { make: boolean }): Buffer {
  const text = opts.make ? secretFile(file, () => randomBytes(KEY_BYTES).toString('base64')) : secretFile(file, missing(file));
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== KEY_BYTES) throw new Error(`${file}: the master key must be ${KEY_BYTES} bytes, base64`);
  return key;
}
const missing = (file: string) => (): string => {
  throw new Error(`no PII master key at ${file} (PII_MASTER_KEY_FILE)`);
};

/** Which master key wrapped a data key: the first 16 hex digits of its SHA-256 (a wrong master key is named, not guessed). */
export const masterKeyId = (master: Buffer) => createHash('sha256').update(master).digest('hex').slice(0, 16);

/**
 * The key store: one table in a PostgreSQL schema of its own, shared by every namespace and read-model schema of the
 * database (a subject is a user id, unique everywhere), so that whoever writes and whoever reads an event find the
 * same key whatever schema their read models use. One row per subject; erasure sets `wrapped` to null and
 * `erased_at` — the row stays, so the key is never made again and a late writer seals nothing readable.
 */
export const PII_KEYS = 'pii.data_keys';
/** An arbitrary constant of this platform: the lock under which the key store is created once. */
const KEY_STORE_LOCK = 726_431_991;

/** Creates the key store when it is missing (idempotent; concurrent callers wait on one lock). */
export async function ensureKeyStore(db: Db): Promise<void> {
  await db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(?)', [KEY_STORE_LOCK]);
    await trx.raw('create schema if not exists pii');
    await trx.raw(`create table if not exists ${PII_KEYS} (
      subject text primary key,
      wrapped bytea,
      master text not null,
      created_at timestamptz not null default now(),
      erased_at timestamptz
    )`);
  });
}

/** A process's access to the data keys. */
export interface Vault {
  /** The sealed form of a value about `subject`; makes the subject's key on first use; ERASED once it is destroyed. */
  seal(subject: string, text: string): Promise<string>;
  /** The plaintext of a sealed value; ERASED when its key is destroyed or unknown. A value that is not sealed is itself. */
  open(value: string): Promise<string>;
  /** `open` without waiting, when the value's key is in memory; undefined when the key must be read (call `open`). */
  openNow(value: string): string | undefined;
  /** Destroys the subject's data key for good (idempotent): what was sealed under it can never be read again. */
  destroy(subject: string): Promise<void>;
  /** Drops the subject's key from this process's cache (it saw the subject erased). */
  forget(subject: string): void;
  /** Closes the database pool the vault made for itself (vaultFor without a pool); a no-op otherwise. */
  close(): Promise<void>;
}

interface Cached {
  readonly key: Buffer | null;
  readonly until: number;
}

type KeyRow = { subject: string; wrapped: Buffer | null; master: string };

/**
 * A map of at most about `max` entries that forgets the least recently used half at once: two generations, the
 * young one taking every write and every entry read from the old one; when the young one is full it becomes the
 * old one. Evicting one oldest entry per write instead (`map.delete(map.keys().next().value)`) costs V8 a walk
 * over the deleted slots at the front: 13 µs a write at 20,000 entries, more than the decryption it saves.
 */
class Generations<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const aged = this.old.get(key);
    if (aged !== undefined) this.set(key, aged);
    return aged;
  }
  set(key: string, value: V): void {
    this.old.delete(key);
    this.young.set(key, value);
    if (this.young.size >= this.max / 2) {
      this.old = this.young;
      this.young = new Map();
    }
  }
  delete(key: string): void {
    this.young.delete(key);
    this.old.delete(key);
  }
}

/**
 * A vault over the key store of `db`, with keys wrapped by `master`. Keys read at once (a batch of events decoded
 * together) are read in one query.
 */
export function createVault(db: Db, master: Buffer, now: () => number = Date.now): Vault {
  const masterId = masterKeyId(master);
  const cache = new Generations<Cached>(MAX_CACHED);
  const opened = new Generations<Map<string, string>>(MAX_OPENED_SUBJECTS);
  const loading = new Map<string, Promise<Buffer | null>>();
  let store: Promise<void> | undefined;
  const ready = () => {
    store ??= ensureKeyStore(db).catch((err: unknown) => {
      store = undefined;
      throw err;
    });
    return store;
  };

  // The subjects whose rows are asked for in this turn of the event loop, read together when it ends.
  let batch: Map<string, Array<{ resolve: (row: KeyRow | undefined) => void; reject: (err: unknown) => void }>> | undefined;
  function rowOf(subject: string): Promise<KeyRow | undefined> {
    return new Promise((resolve, reject) => {
      if (!batch) {
        const mine = (batch = new Map());
        setImmediate(() => {
          batch = undefined;
          db(PII_KEYS)
            .whereIn('subject', [...mine.keys()])
            .select('subject', 'wrapped', 'master')
            .then(
              (rows: KeyRow[]) => {
                const found = new Map(rows.map((r) => [r.subject, r]));
                for (const [s, waiting] of mine) for (const w of waiting) w.resolve(found.get(s));
              },
              (err: unknown) => {
                for (const waiting of mine.values()) for (const w of waiting) w.reject(err);
              },
            );
        });
      }
      const waiting = batch.get(subject);
      if (waiting) waiting.push({ resolve, reject });
      else batch.set(subject, [{ resolve, reject }]);
    });
  }

  // An erased subject's opened values leave the process's memory at once (they would not be served anyway).
  const dropOpened = (subject: string) => opened.delete(subject);
  const keepOpened = (subject: string, value: string, plain: string) => {
    let values = opened.get(subject);
    if (!values) opened.set(subject, (values = new Map()));
    if (values.size >= OPENED_PER_SUBJECT) values.clear();
    values.set(value, plain);
  };

  const remember = (subject: string, key: Buffer | null, forGood = false) => {
    // A destroyed key never comes back: it is remembered for good (until the cache is full).
    cache.set(subject, { key, until: forGood ? Number.POSITIVE_INFINITY : now() + KEY_TTL_MS });
    return key;
  };

  // A key of another master key is the deployment's mistake, not the event's: retriable (the workers wait for the
  // right master key instead of dead-lettering every event of the user).
  function unwrap(subject: string, row: KeyRow): Buffer | null {
    if (!row.wrapped) return null;
    const wrong = (why: string) => new InfraError(`the data key of ${subject} ${why} (PII_MASTER_KEY_FILE)`, true);
    if (row.master !== masterId) throw wrong(`was wrapped by master key ${row.master}, not ${masterId}`);
    const key = open(master, `pii-key:${subject}`, row.wrapped);
    if (!key) throw wrong(`does not unwrap with master key ${masterId}`);
    return key;
  }

  /** The subject's key: from the cache, else read (and, with `make`, created first when the subject has none). */
  function keyOf(subject: string, make: boolean): Promise<Buffer | null> {
    const hit = cache.get(subject);
    if (hit && hit.until > now()) return Promise.resolve(hit.key);
    const inFlight = loading.get(subject);
    if (inFlight && !make) return inFlight;
    const load = (async () => {
      await ready();
      if (make) {
        const key = randomBytes(KEY_BYTES);
        const wrapped = seal(master, `pii-key:${subject}`, key);
        // Whoever inserts first made the key (and knows it without reading it back); a destroyed key (wrapped
        // null) is never made again.
        const made: unknown[] = await db(PII_KEYS)
          .insert({ subject, wrapped, master: masterId })
          .onConflict('subject')
          .ignore()
          .returning('subject');
        if (made.length > 0) return remember(subject, key);
      }
      const row = await rowOf(subject);
      // No row: a subject this database never sealed for (read as erased, but asked again later).
      if (!row) return remember(subject, null);
      const key = unwrap(subject, row);
      return remember(subject, key, key === null);
    })();
    loading.set(subject, load);
    return load.finally(() => loading.delete(subject));
  }

  /** The plaintext of a sealed value with its subject's key (null: destroyed or unknown), kept opened. */
  function openWith(subject: string, value: string, key: Buffer | null): string {
    if (!key) return ERASED;
    const known = opened.get(subject)?.get(value);
    if (known !== undefined) return known;
    const text = open(key, subject, Buffer.from(value.slice(value.lastIndexOf(':') + 1), 'base64url'));
    if (!text) return ERASED;
    const plain = text.toString('utf8');
    keepOpened(subject, value, plain);
    return plain;
  }

  function openNow(value: string): string | undefined {
    if (!isSealed(value)) return value;
    const subject = subjectOf(value);
    if (subject === null) return ERASED;
    const live = cache.get(subject);
    if (!live || live.until <= now()) return undefined;
    return openWith(subject, value, live.key);
  }

  return {
    async seal(subject, text) {
      if (!ID_PATTERN.test(subject)) throw new Error(`a personal-data subject is an id, not ${JSON.stringify(subject.slice(0, 80))}`);
      const key = await keyOf(subject, true);
      if (!key) return ERASED;
      return `${PREFIX}${subject}:${seal(key, subject, Buffer.from(text, 'utf8')).toString('base64url')}`;
    },
    async open(value) {
      const known = openNow(value);
      if (known !== undefined) return known;
      const subject = subjectOf(value)!;
      return openWith(subject, value, await keyOf(subject, false));
    },
    openNow,
    async destroy(subject) {
      await ready();
      await db(PII_KEYS)
        .insert({ subject, wrapped: null, master: masterId, erased_at: db.fn.now() })
        .onConflict('subject')
        .merge({ wrapped: null, erased_at: db.raw('coalesce(data_keys.erased_at, now())') });
      remember(subject, null, true);
      dropOpened(subject);
    },
    forget(subject) {
      cache.delete(subject);
      dropOpened(subject);
    },
    close: async () => undefined,
  };
}

/**
 * The vault of a process: the data keys in the platform's database, the master key from its file. Through `db` when
 * the process has a pool of the app role; else through a small pool of its own, which `close` ends.
 */
export function vaultFor(cfg: Config, db?: Db): Vault {
  const master = readMasterKey(cfg.pii.masterKeyFile, { make: cfg.pii.make });
  if (db) return createVault(db, master);
  const own = createDb(cfg.database.url, { poolMax: 2 });
  return { ...createVault(own, master), close: () => own.destroy() };
}

/**
 * Where a writer's commands and state hold personal data, so that it is sealed on the command topic and in the
 * snapshot changelog as it is in the events (declared by the decider: lib/decider.ts `personal`).
 */
export interface PersonalData<S> {
  /** The payload fields of its commands that are personal data (any command type that has them). */
  readonly commandFields: readonly string[];
  /** Whose they are: the subject of a command's sealed fields. */
  commandSubject(aggregateId: string, payload: Readonly<Record<string, unknown>>): string | null;
  /** Whose personal data the state holds (its snapshot is then sealed under that subject's key), or null: none. */
  stateSubject(state: S, aggregateId: string): string | null;
  /** The state with its personal data replaced by ERASED (written in the clear once the subject's key is destroyed). */
  erase(state: S): S;
}

type Fields = Readonly<Record<string, unknown>>;

/** The object with its `fields` that are strings sealed under the subject's key. */
export async function sealFields<T extends Fields>(vault: Vault, subject: string, obj: T, fields: readonly string[]): Promise<T> {
  const out: Record<string, unknown> = { ...obj };
  for (const f of fields) if (typeof obj[f] === 'string') out[f] = await vault.seal(subject, obj[f]);
  return out as T;
}

/**
 * The object with its sealed `fields` opened. A field sealed under another subject than `subject` reads as erased:
 * a value is only ever opened for the subject it was sealed for.
 */
export async function openFields<T extends Fields>(vault: Vault, subject: string | null, obj: T, fields: readonly string[]): Promise<T> {
  const out: Record<string, unknown> = { ...obj };
  let reading: Array<Promise<void>> | undefined;
  for (const f of fields) {
    const value = obj[f];
    if (!isSealed(value)) continue;
    if (subject === null || subjectOf(value) !== subject) {
      out[f] = ERASED;
      continue;
    }
    // Opened at once when the key is in memory (the common case: one await per event, not one per field).
    const now = vault.openNow(value);
    if (now !== undefined) out[f] = now;
    else (reading ??= []).push(vault.open(value).then((v) => void (out[f] = v)));
  }
  if (reading) await Promise.all(reading);
  return out as T;
}

/** The command bus's sealer: the personal data of each command topic's writer, sealed under the command's subject. */
export function commandSealer(vault: Vault, byTopic: ReadonlyMap<string, Pick<PersonalData<unknown>, 'commandFields' | 'commandSubject'>>) {
  return async (topic: string, aggregateId: string, payload: Fields): Promise<Fields> => {
    const personal = byTopic.get(topic);
    const subject = personal?.commandSubject(aggregateId, payload) ?? null;
    return personal && subject !== null ? sealFields(vault, subject, payload, personal.commandFields) : payload;
  };
}
