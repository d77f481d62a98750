import { signToken } from '../lib/auth';
import { startTestPlatform, type HttpResult } from '../test/platform';
import { forgedToken } from '../test/tokens';

/** The query API over HTTP: read-your-writes, scoping by tenant and user, pagination, clear errors. */
let platform: Awaited<ReturnType<typeof startTestPlatform>>;
beforeAll(async () => {
  platform = await startTestPlatform(1, { readSide: true, sagas: { installDelayMs: 100, tickMs: 100 } });
});
afterAll(() => platform?.stop());

const spec = { cpuCores: 2, memoryMb: 4096, storageGb: 32, androidVersion: '13' };
const bearer = (userId: string, tenantId: string, role: 'user' | 'tenant_admin' = 'user') => ({
  Authorization: `Bearer ${signToken(platform.cfg.auth, { userId, tenantId, role })}`,
});
const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> =>
  platform.http[0]!(method, path, body, headers);
/** A command sent by the tenant's admin. */
const ok = async (method: string, path: string, body: unknown, tenant: string) => {
  const r = await call(method, path, body, bearer('admin-1', tenant, 'tenant_admin'));
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; version: number; consistencyToken: string };
};

let alice: string, bob: string, carol: string, aliceDevice: string, bobDevice: string, carolDevice: string;

describe('query API', () => {
  test('read-your-writes: a query with the consistency token of a write sees it at once', async () => {
    alice = (await ok('POST', '/users', { username: 'alice', email: 'alice@acme.io' }, 'acme')).id;
    const created = await ok('POST', '/devices', { userId: alice, name: 'alice phone', spec, tier: 'basic', region: 'cn-east' }, 'acme');
    aliceDevice = created.id;
    const r = await call('GET', `/devices/${aliceDevice}`, undefined, {
      ...bearer(alice, 'acme'),
      'X-Consistency-Token': created.consistencyToken,
    });
    expect(r).toMatchObject({ status: 200, body: { id: aliceDevice, name: 'alice phone', status: 'created', userId: alice, apps: [] } });
    const started = await ok('POST', `/devices/${aliceDevice}/start`, {}, 'acme');
    const after = await call('GET', `/devices/${aliceDevice}`, undefined, {
      ...bearer(alice, 'acme'),
      'X-Consistency-Token': started.consistencyToken,
    });
    expect(after.body).toMatchObject({
      status: 'running',
      version: 2,
      user: { username: 'alice', email: 'alice@acme.io', status: 'active' },
    });
  });

  test('a user sees only their own resources; a tenant admin sees the tenant; nobody sees another tenant (404, not 403)', async () => {
    bob = (await ok('POST', '/users', { username: 'bob', email: 'bob@acme.io' }, 'acme')).id;
    const b = await ok('POST', '/devices', { userId: bob, name: 'bob phone', spec, tier: 'basic', region: 'cn-east' }, 'acme');
    bobDevice = b.id;
    carol = (await ok('POST', '/users', { username: 'carol', email: 'carol@globex.io' }, 'globex')).id;
    const c = await ok('POST', '/devices', { userId: carol, name: 'carol phone', spec, tier: 'basic', region: 'cn-east' }, 'globex');
    carolDevice = c.id;
    const wait = { 'X-Consistency-Token': c.consistencyToken };
    await call('GET', `/devices/${carolDevice}`, undefined, { ...bearer(carol, 'globex'), ...wait });
    await call('GET', `/devices/${bobDevice}`, undefined, { ...bearer(bob, 'acme'), 'X-Consistency-Token': b.consistencyToken });

    const mine = await call('GET', '/devices', undefined, bearer(alice, 'acme'));
    expect((mine.body.items as Array<{ id: string }>).map((d) => d.id)).toEqual([aliceDevice]);
    expect(await call('GET', `/devices/${bobDevice}`, undefined, bearer(alice, 'acme'))).toMatchObject({
      status: 404,
      body: { detail: 'device not found' },
    });
    const tenant = await call('GET', '/devices', undefined, bearer('admin-1', 'acme', 'tenant_admin'));
    expect((tenant.body.items as Array<{ id: string }>).map((d) => d.id).sort()).toEqual([aliceDevice, bobDevice].sort());
    expect(await call('GET', `/devices/${carolDevice}`, undefined, bearer('admin-1', 'acme', 'tenant_admin'))).toMatchObject({
      status: 404,
    });
    expect(await call('GET', `/users/${carol}`, undefined, bearer('admin-1', 'acme', 'tenant_admin'))).toMatchObject({ status: 404 });
    expect(await call('GET', `/users/${bob}`, undefined, bearer(alice, 'acme'))).toMatchObject({ status: 404 });
    expect(await call('GET', `/users/${bob}`, undefined, bearer('admin-1', 'acme', 'tenant_admin'))).toMatchObject({
      status: 200,
      body: { username: 'bob', status: 'active' },
    });
    const users = await call('GET', '/users', undefined, bearer('admin-1', 'acme', 'tenant_admin'));
    expect((users.body.items as Array<{ username: string }>).map((u) => u.username).sort()).toEqual(['alice', 'bob']);
  });

  test('pagination: pages of `limit` in a stable order, `next` until the last page', async () => {
    for (let i = 0; i < 4; i++)
      await ok('POST', '/devices', { userId: bob, name: `extra ${i}`, spec, tier: 'basic', region: 'cn-east' }, 'acme');
    const last = await ok('POST', '/devices', { userId: bob, name: 'extra last', spec, tier: 'basic', region: 'cn-east' }, 'acme');
    const admin = bearer('admin-1', 'acme', 'tenant_admin');
    await call('GET', `/devices/${last.id}`, undefined, { ...admin, 'X-Consistency-Token': last.consistencyToken });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: HttpResult = await call('GET', `/devices?limit=3${cursor ? `&cursor=${cursor}` : ''}`, undefined, admin);
      expect(r.status).toBe(200);
      seen.push(...(r.body.items as Array<{ id: string }>).map((d) => d.id));
      cursor = r.body.next as string | null;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(7);
    expect([...seen].sort()).toEqual(seen);
    const filtered = await call('GET', `/devices?userId=${bob}&status=created&limit=200`, undefined, admin);
    expect((filtered.body.items as unknown[]).length).toBe(6);
  });

  test('billing and notifications answer for the caller', async () => {
    const stopped = await ok('POST', `/devices/${aliceDevice}/stop`, {}, 'acme');
    const sessions = await call('GET', `/billing/sessions?deviceId=${aliceDevice}`, undefined, {
      ...bearer(alice, 'acme'),
      'X-Consistency-Token': stopped.consistencyToken,
    });
    expect(sessions.body.items).toEqual([
      expect.objectContaining({
        status: 'closed',
        tier: 'basic',
        rateFenPerMinute: 5,
        user: { username: 'alice', email: 'alice@acme.io', status: 'active' },
      }),
    ]);
    const usage = await call('GET', '/billing/usage', undefined, bearer(alice, 'acme'));
    expect(usage.body).toMatchObject({ totals: { sessions: 1, cost: { currency: 'CNY' } } });
    const order = await ok(
      'POST',
      '/orders',
      { userId: alice, planId: 'p', planName: 'Plan', amount: { amount: 990, currency: 'CNY' }, spec, tier: 'basic', region: 'cn-east' },
      'acme',
    );
    const orders = await call('GET', '/orders', undefined, { ...bearer(alice, 'acme'), 'X-Consistency-Token': order.consistencyToken });
    expect(orders.body.items).toEqual([
      expect.objectContaining({ id: order.id, amount: { amount: 990, currency: 'CNY' }, status: 'created' }),
    ]);
    expect(await call('GET', `/orders/${order.id}`, undefined, bearer(bob, 'acme'))).toMatchObject({ status: 404 });
    const notes = await call('GET', '/notifications?unread=true', undefined, bearer(alice, 'acme'));
    expect(notes.status).toBe(200);
  });

  test('errors: 401 without or with a bad token, 400 for bad parameters, 503 with Retry-After when a write is not applied in time', async () => {
    expect(await call('GET', '/devices')).toMatchObject({ status: 401, body: { detail: 'a bearer token is required' } });
    expect(await call('GET', '/devices', undefined, { Authorization: 'Bearer not.a.jwt' })).toMatchObject({ status: 401 });
    const forged = forgedToken(platform.cfg.auth, { userId: alice, tenantId: 'acme', role: 'tenant_admin' });
    expect(await call('GET', '/devices', undefined, { Authorization: `Bearer ${forged}` })).toMatchObject({
      status: 401,
      body: { detail: 'invalid token: signature verification failed' },
    });
    const a = bearer(alice, 'acme');
    expect(await call('GET', '/devices?status=flying', undefined, a)).toMatchObject({
      status: 400,
      body: { errors: [{ field: 'status' }] },
    });
    expect(await call('GET', '/devices?limit=1000', undefined, a)).toMatchObject({
      status: 400,
      body: { errors: [{ field: 'limit', message: 'limit is 1 to 200' }] },
    });
    expect(await call('GET', '/devices?cursor=garbage', undefined, a)).toMatchObject({
      status: 400,
      body: { detail: expect.stringContaining('cursor is malformed') },
    });
    expect(await call('GET', '/devices?color=red', undefined, a)).toMatchObject({ status: 400, body: { errors: [{ field: 'color' }] } });
    expect(await call('GET', '/billing/sessions?from=yesterday', undefined, a)).toMatchObject({ status: 400 });
    expect(await call('GET', '/devices', undefined, { ...a, 'X-Consistency-Token': 'nonsense' })).toMatchObject({ status: 400 });
    const future = Buffer.from(JSON.stringify([{ topic: platform.topics.device.events, partition: 0, offset: '999999' }])).toString(
      'base64url',
    );
    const late = await call('GET', '/devices', undefined, { ...a, 'X-Consistency-Token': future });
    expect(late).toMatchObject({ status: 503, body: { title: 'Service Unavailable' } });
    expect(late.headers.get('retry-after')).toBe('1');
  });
});
