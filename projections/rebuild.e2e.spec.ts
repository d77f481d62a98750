import { spawn } from 'node:child_process';
import path from 'node:path';
import { signToken } from '../lib/auth';
import type { Db } from '../lib/db';
import { CHECKPOINTS, createProjectionWorker } from '../lib/projection-worker';
import type { Projection } from '../lib/projection';
import { startTestPlatform, type HttpResult } from '../test/platform';
import { testDatabase } from '../test/projection-harness';
import { unique, waitFor } from '../test/support';
import { PROJECTIONS } from '../platform/read-side';
import { compareModels, type RowDiff } from './rebuild';

/**
 * `npm run rebuild`, run as a user runs it, against a platform serving commands and queries: while commands keep
 * flowing through the command API and a client hammers the query API, each read model is rebuilt and swapped in;
 * no query fails or comes back empty for data that existed, and the rebuilt model equals the one a fresh worker
 * builds from scratch in another schema. `--verify` finds a tampered live row.
 */
let platform: Awaited<ReturnType<typeof startTestPlatform>>;
beforeAll(async () => {
  platform = await startTestPlatform(1, { readSide: true, sagas: { paymentTimeoutMs: 600_000, installDelayMs: 100, tickMs: 100 } });
  await seed();
});
afterAll(() => platform?.stop());

const TENANT = 'rebuild';
const spec = { cpuCores: 2, memoryMb: 4096, storageGb: 32, androidVersion: '13' };
const fen = (amount: number) => ({ amount, currency: 'CNY' });
const admin = () => ({
  Authorization: `Bearer ${signToken(platform.cfg.auth, { userId: 'operator', tenantId: TENANT, role: 'tenant_admin' })}`,
});
const command = async (method: string, p: string, body?: unknown): Promise<{ id: string }> => {
  const r: HttpResult = await platform.http[0]!(method, p, body ?? {}, { 'X-Tenant-Id': TENANT, ...admin() });
  if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string };
};
const query = (p: string) => platform.http[0]!('GET', p, undefined, admin());
const items = async (p: string) => {
  const r = await query(p);
  return r.status === 200 ? (r.body.items as Array<Record<string, unknown>>) : [];
};

/** What existed before any rebuild: users with a device of their own, a paid order (and its device), sessions, notifications. */
const seeded: Array<{ user: string; device: string; order: string }> = [];
async function seed(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    const user = (await command('POST', '/users', { username: `seed${i}`, email: `seed${i}@example.com` })).id;
    const device = (await command('POST', '/devices', { userId: user, name: `seed phone ${i}`, spec, tier: 'basic', region: 'cn-east' }))
      .id;
    await command('POST', `/devices/${device}/start`);
    await command('POST', `/devices/${device}/stop`, { reason: 'seed' });
    const order = (
      await command('POST', '/orders', {
        userId: user,
        planId: 'std',
        planName: 'Standard',
        amount: fen(990),
        spec,
        tier: 'standard',
        region: 'cn-east',
      })
    ).id;
    await command('POST', `/orders/${order}/pay`, { amount: fen(990), paymentMethod: 'alipay', paymentRef: `seed-${i}` });
    seeded.push({ user, device, order });
  }
  for (const s of seeded) {
    await waitFor(async () => ((await items(`/devices?userId=${s.user}`)).length >= 2 ? true : undefined), {
      what: 'the allocated device',
    });
    await waitFor(async () => ((await items(`/notifications?userId=${s.user}`)).length >= 3 ? true : undefined), {
      what: 'the notifications',
    });
    await waitFor(async () => ((await items(`/billing/sessions?userId=${s.user}`)).length >= 1 ? true : undefined), {
      what: 'the session',
    });
    await waitFor(async () => ((await query(`/orders/${s.order}`)).body.status === 'paid' ? true : undefined), { what: 'the paid order' });
  }
}

/**
 * Traffic: one client sending commands (a new user with a device started, stopped and renamed, again and again),
 * three reading everything seeded, in a loop; every failed or empty answer is recorded.
 */
function traffic() {
  let running = true;
  const failures: string[] = [];
  const counts = { commands: 0, queries: 0 };
  const writer = (async () => {
    for (let n = 0; running; n++) {
      try {
        const user = (await command('POST', '/users', { username: unique('load'), email: `${unique('load')}@example.com` })).id;
        const device = (await command('POST', '/devices', { userId: user, name: `load ${n}`, spec, tier: 'premium', region: 'cn-east' }))
          .id;
        await command('POST', `/devices/${device}/start`);
        await command('POST', `/devices/${device}/stop`, { reason: 'load' });
        await command('PATCH', `/devices/${device}`, { name: `load ${n} renamed` });
        counts.commands += 5;
      } catch (err) {
        failures.push(`command: ${(err as Error).message}`);
      }
    }
  })();
  const expectations: Array<[string, (r: HttpResult) => boolean]> = seeded.flatMap((s) => [
    [`/devices/${s.device}`, (r) => r.body.id === s.device && r.body.name === `seed phone ${seeded.indexOf(s)}`],
    [`/devices?userId=${s.user}`, (r) => (r.body.items as unknown[]).length >= 2],
    [`/users/${s.user}`, (r) => r.body.id === s.user && r.body.status === 'active'],
    [`/orders/${s.order}`, (r) => r.body.status === 'paid'],
    [`/billing/sessions?userId=${s.user}`, (r) => (r.body.items as unknown[]).length >= 1],
    [`/billing/usage?userId=${s.user}`, (r) => (r.body.days as unknown[]).length >= 1],
    [`/notifications?userId=${s.user}`, (r) => (r.body.items as unknown[]).length >= 3],
  ]);
  // Three readers, each going round every expectation from a different starting point.
  const readers = [0, 1, 2].map(async (start) => {
    while (running) {
      for (const [p, ok] of [...expectations.slice(start * 7), ...expectations.slice(0, start * 7)]) {
        const r = await query(p).catch((err: Error) => ({ status: 0, body: { error: err.message } }) as unknown as HttpResult);
        counts.queries++;
        if (r.status !== 200 || !ok(r)) failures.push(`GET ${p}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      }
    }
  });
  return {
    failures,
    counts,
    async stop(): Promise<void> {
      running = false;
      await Promise.all([writer, ...readers]);
    },
  };
}

/** Runs a CLI of scripts/ in a child process (asynchronously: the traffic goes on meanwhile). */
function cli(script: string, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, '..', 'scripts', script), ...args], {
      env: {
        ...process.env,
        TOPIC_NAMESPACE: platform.cfg.topics.namespace,
        DATABASE_SCHEMA: platform.cfg.database.schema,
        LOG_LEVEL: 'warn',
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The OID of every table of the live schema: which tables a rebuild replaced, and which it left alone. */
async function tableOids(): Promise<Record<string, number>> {
  const r = await platform.db!.raw(
    `select c.relname as name, c.oid::bigint as oid from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ? and c.relkind = 'r'`,
    [platform.cfg.database.schema!],
  );
  return Object.fromEntries((r.rows as Array<{ name: string; oid: number }>).map((x) => [x.name, x.oid]));
}

/** A fresh worker builds the projection from scratch into another schema; with the traffic stopped, both models end equal. */
async function expectEqualsFreshBuild(projection: Projection): Promise<void> {
  const fresh = testDatabase(`fresh_${projection.name}`);
  await fresh.setup();
  const worker = createProjectionWorker({
    kafka: platform.it.kafka,
    db: fresh.db,
    eventLog: platform.it.eventLog,
    projection,
    topics: projection.topics(platform.topics),
    deadLetterTopic: platform.topics.deadLetters,
    groupId: unique(`test-fresh-${projection.name}`),
    logger: platform.it.logger,
  });
  await worker.start();
  let diff: RowDiff[] = [];
  // Per partition: the events applied and dead-lettered (the handed-over counters go on from the shadow's).
  const counters = async (db: Db) =>
    ((await db(CHECKPOINTS).where({ projection: projection.name }).orderBy(['topic', 'partition'])) as Array<Record<string, unknown>>).map(
      (c) => `${String(c.topic)}/${String(c.partition)}: ${String(c.applied_events)} applied, ${String(c.dead_letters)} dead`,
    );
  try {
    await waitFor(
      async () => {
        diff = await compareModels(platform.db!, projection, platform.cfg.database.schema!, fresh.schema);
        const [live, rebuilt] = [await counters(platform.db!), await counters(fresh.db)];
        if (
          JSON.stringify(live.filter((c) => !c.endsWith(': 0 applied, 0 dead'))) !==
          JSON.stringify(rebuilt.filter((c) => !c.endsWith(': 0 applied, 0 dead')))
        )
          diff.push({ table: CHECKPOINTS, key: projection.name, columns: ['applied_events'], live: { live }, rebuilt: { rebuilt } });
        return diff.length === 0 ? true : undefined;
      },
      { what: `the rebuilt ${projection.name} model to equal a fresh build`, timeoutMs: 60_000, intervalMs: 250 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}; ${diff.length} rows differ, e.g. ${JSON.stringify(diff.slice(0, 3))}`);
    });
  } finally {
    await worker.stop();
    await fresh.teardown();
  }
  let rows = 0;
  for (const t of Object.keys(projection.tables)) rows += Number((await platform.db!(t).count({ n: '*' }))[0]!.n);
  expect(rows).toBeGreaterThan(seeded.length);
}

test('--help explains the command; an unknown projection is refused', async () => {
  expect(await cli('rebuild.ts', '--help')).toMatchObject({ status: 0, stdout: expect.stringContaining('--verify') });
  expect(await cli('rebuild.ts', 'purchase-plan')).toMatchObject({
    status: 1,
    stderr: expect.stringContaining('one of device, billing, notification'),
  });
});

describe('rebuild --verify', () => {
  test('a clean live model verifies while commands flow (exit 0, nothing swapped)', async () => {
    const before = await tableOids();
    const t = traffic();
    await waitFor(() => (t.counts.commands >= 5 ? true : undefined), { what: 'commands to flow' });
    const res = await cli('rebuild.ts', 'notification', '--verify');
    await t.stop();
    expect(res).toMatchObject({ status: 0, stdout: expect.stringContaining('notification: the rebuilt model equals the live one') });
    expect(await tableOids()).toEqual(before);
    expect(t.failures).toEqual([]);
  });

  test('a tampered live row is printed with the differing column (exit 1), and the live row is left as it is', async () => {
    const victim = seeded[0]!.device;
    await platform.db!('devices').where({ device_id: victim }).update({ region: 'tampered' });
    const res = await cli('rebuild.ts', 'device', '--verify');
    expect(res.status).toBe(1);
    expect(res.stdout).toContain(`~ devices[${victim}] region: live "tampered" ≠ rebuilt "cn-east"`);
    expect(res.stdout).toContain('device: 1 row(s) differ');
    expect((await platform.db!('devices').where({ device_id: victim }).first()).region).toBe('tampered');
  });
});

describe.each(['device', 'billing', 'notification'])('rebuild %s', (name) => {
  const projection = PROJECTIONS[name]!;
  test('while commands flow and the query API is hammered: swapped in, no failed or empty answer, equal to a fresh build', async () => {
    const before = await tableOids();
    const t = traffic();
    await waitFor(() => (t.counts.commands >= 5 ? true : undefined), { what: 'commands to flow' });
    const res = await cli('rebuild.ts', name);
    const queriesDuring = t.counts.queries;
    await t.stop();
    expect(res).toMatchObject({ status: 0, stdout: expect.stringContaining(`${name}: rebuilt from`) });
    expect(res.stdout).toContain('old tables dropped');
    expect(res.stderr).toContain('offsets (100%)');
    expect(t.failures).toEqual([]);
    expect(queriesDuring).toBeGreaterThan(0);

    // Only the projection's own tables were replaced; every other table (other read models, sagas, checkpoints) is the same.
    const after = await tableOids();
    const mine = Object.keys(projection.tables);
    for (const table of Object.keys(before)) {
      if (mine.includes(table)) expect([table, after[table]]).not.toEqual([table, before[table]]);
      else expect([table, after[table]]).toEqual([table, before[table]]);
    }
    // The shadow schema (its leftovers: checkpoints, other tables) and the retired tables are gone.
    const shadow = new RegExp(`in schema (rebuild_${name}_\\w+), and swapped in`).exec(res.stdout)?.[1];
    expect(shadow).toBeDefined();
    const leftovers = await platform.db!('information_schema.schemata').whereIn('schema_name', [
      shadow!,
      shadow!.replace(/^rebuild_/, 'retired_'),
    ]);
    expect(leftovers).toEqual([]);

    // Its consumer groups (the replay's and the tail's) are gone too.
    const groups = (await (await platform.it.admin()).listGroups()).groups.map((g) => g.groupId);
    expect(groups.filter((g) => g.startsWith(`${platform.topics.namespace}.rebuild.${name}.`))).toEqual([]);

    await expectEqualsFreshBuild(projection);
    if (name === 'device') {
      // The row tampered with in the --verify test is right again.
      expect((await platform.db!('devices').where({ device_id: seeded[0]!.device }).first()).region).toBe('cn-east');
    }
  });
});
