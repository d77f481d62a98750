import { randomInt } from 'node:crypto';
import path from 'node:path';
import { createEventLog } from '../../lib/event-log';
import { createVault, isSealed, readMasterKey } from '../../lib/pii';
import { loadStackConfig } from '../../scripts/stack/index';
import { databaseHits, kafkaLogHits, logHits } from '../../test/at-rest';
import { runScript } from '../../test/cli';
import { newDevice } from '../../test/fixtures';
import { startTestPlatform, type TestPlatform } from '../../test/platform';
import { waitFor } from '../../test/support';
import { ERASED } from './events';

/**
 * Crypto-shredding (issue 16): a user's username, email and phone reach Kafka only sealed under their data key —
 * in the events, the commands, the snapshots and the replies — and once the user is erased that key is destroyed.
 * Searched byte for byte where data rests: the log directories of every topic of the platform's namespace, every
 * row of both databases, the stack's logs. A value of the same request that is no personal data (the device's
 * name) is found in the clear: the search sees what is there.
 */
let platform: TestPlatform;
const stack = loadStackConfig();
beforeAll(async () => {
  platform = await startTestPlatform(1, { readSide: true, sagas: { installDelayMs: 100, tickMs: 100 } });
});
afterAll(() => platform?.stop());

const admin = () => platform.tenantAdmin('acme');
const ok = async (method: string, url: string, body: unknown) => {
  const r = await platform.http[0]!(method, url, body, admin());
  if (r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; consistencyToken: string };
};
const namespaceLogs = (needles: string[]) => kafkaLogHits(path.join(stack.dir, 'kafka', 'data'), `${platform.topics.namespace}.`, needles);

test('planted personal data: only ciphertext in Kafka; after erasure nowhere at rest, the log reads [erased], the books and rebuilds agree', async () => {
  const mark = String(randomInt(10 ** 8)).padStart(8, '0');
  const planted = {
    username: `plant-${mark}`,
    renamed: `plant2-${mark}`,
    email: `plant-${mark}@example.com`,
    phone: `+86 138 ${mark.slice(0, 4)} ${mark.slice(4)}`,
  };
  const control = `device-of-${mark}`; // a device name: not personal data, written in the clear
  const needles = Object.values(planted);

  const user = await ok('POST', '/users', { username: planted.username, email: planted.email, phone: planted.phone });
  await ok('PATCH', `/users/${user.id}`, { username: planted.renamed });
  await ok('POST', '/devices', newDevice(user.id, { name: control }));

  // Before erasure: the topics hold the device name in the clear, and none of the personal data.
  const before = await namespaceLogs([...needles, control]);
  expect(before.files).toBeGreaterThan(0);
  expect(before.hits[control]!.length).toBeGreaterThan(0);
  for (const n of needles) expect({ [n]: before.hits[n] }).toEqual({ [n]: [] });
  // Yet the platform reads them: the query API, and the log through the vault.
  const events = (await platform.it.readAll(platform.topics.user.events)).filter((r) => r.event.aggregateId === user.id);
  expect(events[0]!.event).toMatchObject({ type: 'user.created', username: planted.username, email: planted.email, phone: planted.phone });

  const erased = await ok('DELETE', `/users/${user.id}`, { reason: `closing ${planted.email}` });
  // The reservation-release policy frees the values, then destroys the key.
  await waitFor(
    async () => {
      const row = (await platform.db!.raw('select wrapped from pii.data_keys where subject = ?', [user.id])).rows[0] as
        { wrapped: Buffer | null } | undefined;
      return row && row.wrapped === null ? true : undefined;
    },
    { what: 'the user’s data key to be destroyed', timeoutMs: 30_000, intervalMs: 200 },
  );
  await platform.http[0]!('GET', `/users/${user.id}`, undefined, { ...admin(), 'X-Consistency-Token': erased.consistencyToken });

  // After: nowhere at rest — Kafka's log directories, both databases, the stack's logs.
  const after = await namespaceLogs(needles);
  for (const n of needles) expect({ [n]: after.hits[n] }).toEqual({ [n]: [] });
  const db = await databaseHits(platform.cfg, needles);
  expect(db.tables).toBeGreaterThan(10);
  for (const n of needles) expect({ [n]: db.hits[n] }).toEqual({ [n]: [] });
  const logs = await logHits(path.join(stack.dir, 'logs'), needles);
  for (const n of needles) expect({ [n]: logs[n] }).toEqual({ [n]: [] });

  // The log reads [erased] wherever the values were — here, and in a process that never had the key.
  const fresh = createEventLog(platform.it.registry, undefined, {
    vault: createVault(platform.db!, readMasterKey(platform.cfg.pii.masterKeyFile, { make: false })),
  });
  const raw = (await platform.it.readRawAll(platform.topics.user.events)).filter((m) => m.message.key?.toString() === user.id);
  const history = await Promise.all(raw.map(async (m) => (await fresh.decode(m.message.value!)).event));
  expect(history.map((e) => e.type)).toEqual(['user.created', 'user.updated', 'user.deleted', 'user.erased']);
  expect(history[0]).toMatchObject({ username: ERASED, email: ERASED, phone: ERASED, status: 'active' });
  expect(history[1]).toMatchObject({ username: ERASED, previousUsername: ERASED });
  expect(history[2]).toMatchObject({ username: ERASED, email: ERASED, reason: ERASED });
  // A tool without the keys sees the ciphertext itself.
  const keyless = await createEventLog(platform.it.registry).decode(raw[0]!.message.value!);
  expect(isSealed(keyless.event.email)).toBe(true);

  // inspect shows the erased fields as erased.
  const env = { TOPIC_NAMESPACE: platform.cfg.topics.namespace, DATABASE_SCHEMA: platform.cfg.database.schema, LOG_LEVEL: 'warn' };
  const inspected = await runScript('inspect.ts', [platform.topics.user.events, '--from-beginning', '--key', user.id, '--json'], env);
  expect(inspected.status).toBe(0);
  const shown = inspected.stdout
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { event: Record<string, unknown> }).event);
  expect(shown.map((e) => e.type)).toEqual(['user.created', 'user.updated', 'user.deleted', 'user.erased']);
  expect(shown[0]).toMatchObject({ username: ERASED, email: ERASED, phone: ERASED });
  expect(shown[3]).toMatchObject({ reason: ERASED });

  // A rebuild of each read model from the log (its sealed fields now [erased]) equals the live one.
  for (const name of ['device', 'billing', 'notification']) {
    const verified = await runScript('rebuild.ts', [name, '--verify'], env);
    expect({ name, status: verified.status, out: verified.stdout.split('\n')[0] }).toMatchObject({ name, status: 0 });
  }
});
