import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { loadConfig } from './config';
import { adminDatabaseUrl, createDb, migrate, pgCredentials, pgRoleName } from './db';
import { grantProjection } from './projection-worker';
import { deviceProjection } from '../projections/device/projection';
import { kafkaCredentials } from './kafka';
import { registryCredentials } from './registry';
import { deviceSpec } from '../test/fixtures';
import { unique } from '../test/support';

/**
 * PostgreSQL least privilege (issue 13): the app role owns and writes the read models but is no superuser; the
 * query role may only SELECT; the registry's database is the registry role's alone; passwords are checked with
 * SCRAM-SHA-256; no secret is in any process's arguments.
 */
const cfg = loadConfig();
const schema = unique('roles').replace(/\W/g, '_');
const app = createDb(cfg.database.url, { schema, poolMax: 2 });
const reader = createDb(cfg.database.queryUrl, { schema, poolMax: 2 });
const denied = (p: Promise<unknown>) =>
  p.then(
    () => 'allowed',
    (err: Error) => err.message,
  );

beforeAll(async () => {
  await migrate(app, schema);
  await app('devices').insert({
    device_id: 'd1',
    tenant_id: 't1',
    user_id: 'u1',
    name: 'phone',
    status: 'created',
    tier: 'basic',
    region: 'cn-east',
    spec: JSON.stringify({ ...deviceSpec, memoryMb: 2048 }),
    created_at: new Date(),
    updated_at: new Date(),
    version: 1,
  });
});

afterAll(async () => {
  await app.raw('drop schema ?? cascade', [schema]);
  await Promise.all([app.destroy(), reader.destroy()]);
});

const embedded = cfg.database.embedded ? describe : describe.skip;

embedded('roles of the embedded server', () => {
  test('the query role reads the read models and may not change them, nor make tables', async () => {
    expect(await reader('devices').select('device_id')).toEqual([{ device_id: 'd1' }]);
    expect(await denied(reader('devices').update({ region: 'tampered' }))).toMatch(/permission denied for table devices/);
    expect(await denied(reader('devices').delete())).toMatch(/permission denied/);
    expect(await denied(reader.raw('create table ??.intruder (a int)', [schema]))).toMatch(/permission denied for schema/);
    expect((await app('devices').first()).region).toBe('cn-east');
  });

  test('a projection’s workers may change its tables and checkpoints only: the device role cannot touch billing’s, nor drop', async () => {
    await grantProjection(app, schema, deviceProjection, pgRoleName('device'));
    const device = createDb(cfg.database.projectionUrls.device, { schema, poolMax: 1 });
    try {
      expect(await device('devices').update({ name: 'renamed' })).toBe(1);
      expect(await denied(device('orders').delete())).toMatch(/permission denied for table orders/);
      expect(await denied(device('metering_sessions').select())).toMatch(/permission denied for table metering_sessions/);
      expect(await denied(device.raw('drop table ??.devices', [schema]))).toMatch(/must be owner/);
    } finally {
      await device.destroy();
    }
  });

  test('the app role owns its tables but is no superuser: no roles, no other database', async () => {
    expect((await app.raw('select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = current_user')).rows).toEqual([
      { rolsuper: false, rolcreaterole: false, rolcreatedb: false },
    ]);
    expect(await denied(app.raw('create role intruder'))).toMatch(/permission denied/);
    expect(await denied(app.raw('select rolpassword from pg_authid'))).toMatch(/permission denied/);
    const registryDb = new URL(cfg.database.url);
    registryDb.pathname = '/cloudphone_registry';
    const c = new pg.Client({ connectionString: registryDb.toString() });
    expect(await denied(c.connect())).toMatch(/permission denied for database/);
    await c.end().catch(() => undefined);
  });

  test('passwords are checked with SCRAM-SHA-256: every TCP rule says so, a wrong password is refused', async () => {
    const c = new pg.Client({ connectionString: adminDatabaseUrl(cfg.database, 'postgres') });
    await c.connect();
    try {
      const rules = await c.query<{ auth_method: string }>("select distinct auth_method from pg_hba_file_rules where type like 'host%'");
      expect(rules.rows).toEqual([{ auth_method: 'scram-sha-256' }]);
      const stored = await c.query<{ n: number }>(
        "select count(*)::int as n from pg_authid where rolname like 'cloudphone%' and rolpassword not like 'SCRAM-SHA-256$%'",
      );
      expect(stored.rows[0]!.n).toBe(0);
    } finally {
      await c.end();
    }
    const wrong = new URL(cfg.database.url);
    wrong.password = 'not-the-password';
    const w = new pg.Client({ connectionString: wrong.toString() });
    expect(await denied(w.connect())).toMatch(/password authentication failed/);
    await w.end().catch(() => undefined);
  });
});

test('no password of the stack is in any process’s arguments', () => {
  const secrets = [
    ...Object.values(pgCredentials(cfg.database.credentialsFile) ?? {}),
    ...Object.values(kafkaCredentials(cfg.kafka.credentialsFile)),
    ...Object.values(registryCredentials(cfg.registry.credentialsFile)),
  ];
  expect(secrets.length).toBeGreaterThanOrEqual(9);
  const leaks: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (secrets.some((s) => cmdline.includes(s))) leaks.push(`${pid}: ${cmdline.replace(/\0/g, ' ').slice(0, 120)}`);
  }
  expect(leaks).toEqual([]);
});
