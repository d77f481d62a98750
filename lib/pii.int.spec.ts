import { randomBytes, randomUUID } from 'node:crypto';
import { registerSchemas } from './bootstrap';
import { loadConfig } from './config';
import { createDb } from './db';
import { createEventLog, readWireFormat, type AnyEvent } from './event-log';
import { createVault, ERASED, isSealed, PII_KEYS, subjectOf } from './pii';
import { createRegistry } from './registry';
import { loadEventSchemas } from './schemas';
import { event } from '../test/events';

/**
 * Crypto-shredding against the real PostgreSQL (issue 16): data keys made once per subject, wrapped by the master
 * key; a destroyed key makes every sealed value read as erased, in this process and in any other.
 */
const cfg = loadConfig();
const db = createDb(cfg.database.url, { poolMax: 4 });
const master = randomBytes(32);
afterAll(() => db.destroy());

describe('the vault', () => {
  test('seals under the subject’s key and opens again; the sealed form names the subject and holds no plaintext', async () => {
    const vault = createVault(db, master);
    const subject = randomUUID();
    const sealed = await vault.seal(subject, 'lin.wei@example.com');
    expect(isSealed(sealed)).toBe(true);
    expect(subjectOf(sealed)).toBe(subject);
    expect(sealed).not.toContain('lin.wei');
    expect(await vault.seal(subject, 'lin.wei@example.com')).not.toBe(sealed); // a fresh IV each time
    expect(await vault.open(sealed)).toBe('lin.wei@example.com');
    // Another process (another vault on the same store) opens it too.
    expect(await createVault(db, master).open(sealed)).toBe('lin.wei@example.com');
    // The key is stored wrapped: its row holds neither the plaintext nor the raw key.
    const row = (await db(PII_KEYS).where({ subject }).first()) as { wrapped: Buffer; master: string };
    expect(row.wrapped).toHaveLength(12 + 16 + 32);
  });

  test('concurrent first seals of one subject make one key', async () => {
    const subject = randomUUID();
    const vaults = Array.from({ length: 4 }, () => createVault(db, master));
    const sealed = await Promise.all(vaults.map((v, i) => v.seal(subject, `value-${i}`)));
    const reader = createVault(db, master);
    expect(await Promise.all(sealed.map((s) => reader.open(s)))).toEqual(['value-0', 'value-1', 'value-2', 'value-3']);
    expect(await db(PII_KEYS).where({ subject }).count({ n: '*' })).toEqual([{ n: 1 }]);
  });

  test('destroyed: every sealed value reads as erased, here and in a process that had the key; nothing new is sealed readable', async () => {
    const subject = randomUUID();
    const writer = createVault(db, master);
    const other = createVault(db, master);
    const sealed = await writer.seal(subject, '+86 139 0000 1111');
    expect(await writer.open(sealed)).toBe('+86 139 0000 1111'); // opened once: kept opened in this process
    expect(await other.open(sealed)).toBe('+86 139 0000 1111'); // cached in the other process
    await writer.destroy(subject);
    await writer.destroy(subject); // idempotent
    expect(await writer.open(sealed)).toBe(ERASED);
    other.forget(subject); // what a decoded user.erased does
    expect(await other.open(sealed)).toBe(ERASED);
    expect(await createVault(db, master).open(sealed)).toBe(ERASED);
    expect(await writer.seal(subject, 'again')).toBe(ERASED);
    expect(await createVault(db, master).seal(subject, 'again')).toBe(ERASED);
    const row = (await db(PII_KEYS).where({ subject }).first()) as { wrapped: Buffer | null; erased_at: Date | null };
    expect(row.wrapped).toBeNull();
    expect(row.erased_at).toBeInstanceOf(Date);
  });

  test('an opened value is kept only as long as its key: once the key’s time is up, a key destroyed elsewhere reads erased', async () => {
    let clock = 1_000_000;
    const subject = randomUUID();
    const reader = createVault(db, master, () => clock);
    const sealed = await createVault(db, master).seal(subject, 'kept-for-a-minute');
    expect(await reader.open(sealed)).toBe('kept-for-a-minute');
    await createVault(db, master).destroy(subject); // another process erases the user
    clock += 59_000;
    expect(await reader.open(sealed)).toBe('kept-for-a-minute'); // the key's 60 s are not up (no user.erased seen)
    clock += 2_000;
    expect(await reader.open(sealed)).toBe(ERASED); // the key is read again: destroyed, and the opened value with it
  });

  test('hostile sealed values read as erased, never an error: tampered, truncated, another subject’s, unknown', async () => {
    const vault = createVault(db, master);
    const a = randomUUID();
    const b = randomUUID();
    const sealed = await vault.seal(a, 'secret');
    await vault.seal(b, 'other');
    const body = sealed.slice(sealed.lastIndexOf(':') + 1);
    const flipped = Buffer.from(body, 'base64url');
    flipped[flipped.length - 1]! ^= 1;
    for (const hostile of [
      `enc:v1:${a}:${flipped.toString('base64url')}`,
      `enc:v1:${a}:${body.slice(0, 10)}`,
      `enc:v1:${a}:`,
      `enc:v1:${b}:${body}`, // b's key does not open a's value (and the subject is bound in)
      `enc:v1:${randomUUID()}:${body}`,
      'enc:v1:',
      'enc:v1:\u0000:AAAA',
    ]) {
      expect(await vault.open(hostile)).toBe(ERASED);
    }
    expect(await vault.open('plain text')).toBe('plain text');
  });

  test('a data key wrapped by another master key is named, not opened as garbage', async () => {
    const subject = randomUUID();
    const sealed = await createVault(db, master).seal(subject, 'x');
    await expect(createVault(db, randomBytes(32)).open(sealed)).rejects.toThrow(/wrapped by master key [0-9a-f]{16}, not [0-9a-f]{16}/);
  });
});

describe('the event log seals the fields a schema marks "pii"', () => {
  const registry = createRegistry(cfg, 'writer');
  const topic = `cloudphone.pii-test-${randomUUID().slice(0, 8)}`;
  const schemas = loadEventSchemas().filter((s) => s.pii);
  beforeAll(() => registerSchemas(registry, topic, schemas));

  test('the encoded record holds ciphertext only; decode opens it, and reads erased after the key is destroyed', async () => {
    const vault = createVault(db, master);
    const log = createEventLog(registry, undefined, { vault });
    const userId = randomUUID();
    const created = event('user.created', {
      aggregateId: userId,
      username: 'planted-user-7f3a',
      email: 'planted-7f3a@example.com',
      phone: '+86 139 7777 3333',
    }) as AnyEvent;
    const value = await log.encode(topic, created);
    const text = readWireFormat(value).body.toString('latin1');
    for (const planted of ['planted-user-7f3a', 'planted-7f3a@example.com', '7777']) expect(text).not.toContain(planted);
    expect((await log.decode(value)).event).toEqual(created);

    // Without a vault, the fields stay sealed (a tool without keys), and such events cannot be written.
    const keyless = createEventLog(registry);
    const { event: sealed } = await keyless.decode(value);
    expect(isSealed(sealed.email)).toBe(true);
    await expect(keyless.encode(topic, created)).rejects.toThrow(/no vault/);

    // user.erased, decoded, evicts the key from the cache; the destroyed key reads as erased.
    await createVault(db, master).destroy(userId);
    await log.decode(await log.encode(topic, event('user.erased', { aggregateId: userId, reason: null }) as AnyEvent));
    expect((await log.decode(value)).event).toMatchObject({ username: ERASED, email: ERASED, phone: ERASED, status: 'active' });
  });

  test('a reservation’s value is sealed under its owner’s key', async () => {
    const vault = createVault(db, master);
    const log = createEventLog(registry, undefined, { vault });
    const owner = randomUUID();
    const claimed = event('reservation.claimed', { ownerId: owner, kind: 'email', value: 'owner-91c2@example.com' }) as AnyEvent;
    const value = await log.encode(topic, claimed);
    expect(value.toString('latin1')).not.toContain('owner-91c2');
    await vault.destroy(owner);
    expect((await log.decode(value)).event).toMatchObject({ ownerId: owner, kind: 'email', value: ERASED });
  });
});
