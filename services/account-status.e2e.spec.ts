import { fen, newDevice, newOrder } from '../test/fixtures';
import { startTestPlatform, type HttpResult, type TestPlatform } from '../test/platform';
import { waitFor } from '../test/support';

/**
 * Account status (issue 13): a suspended, banned or deleted user may not change anything — every command of theirs
 * is a 403 naming the account's status, decided by the user's writer — while a tenant admin still acts for them.
 */
let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(1, { readSide: true });
});
afterAll(() => platform?.stop());

const tenant = 'status-test';
const call = (method: string, path: string, body: unknown, headers: Record<string, string>): Promise<HttpResult> =>
  platform.http[0]!(method, path, body, headers);
const admin = () => platform.tenantAdmin(tenant);

/** The user's first command after their status changed (a harmless rename to the same name) is refused with `code`. */
async function refusedWith(user: Record<string, string>, deviceId: string, code: string) {
  const r = await call('PATCH', `/devices/${deviceId}`, { name: 'phone' }, user);
  expect([r.status, r.body.type]).toEqual([403, expect.stringContaining(code)]);
  return r;
}

test('a banned user’s commands are refused (403 account_banned) and append nothing; re-activated, they act again', async () => {
  const u = await call('POST', '/users', { username: 'sam', email: 'sam@status.example' }, { 'X-Tenant-Id': tenant });
  expect(u.status).toBe(201);
  const sam = platform.bearer(u.body.id as string, tenant);
  const device = await call('POST', '/devices', newDevice(u.body.id as string), sam);
  expect(device.status).toBe(201);
  const deviceId = device.body.id as string;

  expect((await call('POST', `/users/${u.body.id as string}/status`, { status: 'banned', reason: 'fraud' }, admin())).status).toBe(200);
  const refused = await refusedWith(sam, deviceId, 'account_banned');
  expect(refused.body).toMatchObject({ status: 403, detail: 'your account is banned: it may read, not change anything' });
  const before = (await platform.it.endOffsets(platform.topics.device.events)).map((o) => o.high);
  for (const [method, path, body] of [
    ['POST', `/devices/${deviceId}/start`, {}],
    ['POST', '/devices', newDevice(u.body.id as string, { name: 'second', tier: 'premium' })],
    ['POST', '/orders', newOrder(u.body.id as string, { planName: 'P', amount: fen(100) })],
    ['PATCH', `/users/${u.body.id as string}`, { email: 'sam2@status.example' }],
    ['POST', '/app-installs', { userId: u.body.id, deviceId, appId: 'com.tencent.mm' }],
  ] as const) {
    const r = await call(method, path, body, sam);
    expect([path, r.status, r.body.type]).toEqual([path, 403, expect.stringContaining('account_banned')]);
  }
  // Nothing was appended for them: no session can be billed.
  expect((await platform.it.endOffsets(platform.topics.device.events)).map((o) => o.high)).toEqual(before);
  // Their tenant's admin still acts.
  expect((await call('POST', `/devices/${deviceId}/start`, {}, admin())).status).toBe(200);
  expect((await call('POST', `/devices/${deviceId}/stop`, { reason: 'banned' }, admin())).status).toBe(200);

  expect((await call('POST', `/users/${u.body.id as string}/status`, { status: 'active', reason: null }, admin())).status).toBe(200);
  expect((await call('POST', `/devices/${deviceId}/start`, {}, sam)).status).toBe(200);
});

test('a deleted user’s token changes nothing (403 account_deleted); a token of a user who never existed neither', async () => {
  const u = await call('POST', '/users', { username: 'dee', email: 'dee@status.example' }, { 'X-Tenant-Id': tenant });
  const dee = platform.bearer(u.body.id as string, tenant);
  const device = await call('POST', '/devices', newDevice(u.body.id as string), dee);
  expect(device.status).toBe(201);
  expect((await call('DELETE', `/users/${u.body.id as string}`, { reason: 'closed' }, dee)).status).toBe(200);
  await refusedWith(dee, device.body.id as string, 'account_deleted');
  const ghost = platform.bearer('never-registered', tenant);
  expect(await call('POST', '/devices', newDevice('never-registered', { name: 'x' }), ghost)).toMatchObject({
    status: 403,
    body: { detail: 'your account does not exist' },
  });
});

test('a deleted user’s token reads nothing either (403 account_deleted once the read side has the deletion); a suspended one still reads', async () => {
  const u = await call('POST', '/users', { username: 'rae', email: 'rae@status.example' }, { 'X-Tenant-Id': tenant });
  const rae = platform.bearer(u.body.id as string, tenant);
  const device = await call('POST', '/devices', newDevice(u.body.id as string), rae);
  const token = { 'X-Consistency-Token': device.body.consistencyToken as string };
  expect((await call('GET', `/devices/${device.body.id as string}`, undefined, { ...rae, ...token })).status).toBe(200);

  expect((await call('POST', `/users/${u.body.id as string}/status`, { status: 'suspended', reason: null }, admin())).status).toBe(200);
  expect((await call('GET', `/users/${u.body.id as string}`, undefined, rae)).status).toBe(200);

  expect((await call('DELETE', `/users/${u.body.id as string}`, { reason: 'closed' }, admin())).status).toBe(200);
  for (const path of [
    `/devices/${device.body.id as string}`,
    '/devices',
    `/users/${u.body.id as string}`,
    '/orders',
    '/notifications',
    '/billing/sessions',
  ]) {
    const r = await waitFor(
      async () => {
        const res = await call('GET', path, undefined, rae);
        return res.status === 403 ? res : undefined;
      },
      { what: `${path} to refuse the deleted user`, timeoutMs: 20_000, intervalMs: 200 },
    );
    expect([path, r.body.type]).toEqual([path, expect.stringContaining('account_deleted')]);
  }
  // Their tenant's admin still reads what is kept of them.
  expect((await call('GET', `/devices/${device.body.id as string}`, undefined, admin())).status).toBe(200);
});
