import { randomInt, randomUUID } from 'node:crypto';
import { signToken } from '../../lib/auth';
import { newDevice, newOrder } from '../../test/fixtures';
import { startTestPlatform, type HttpResult, type TestPlatform } from '../../test/platform';
import { ERASED } from './events';

/**
 * Erasure of a user's personal data (issue 16, its read-model half): DELETE /users/:id and a tenant admin's
 * POST /users/:id/erase append user.erased; every read model shows the placeholder wherever it had copied the user's
 * username, email or phone, and keeps the money (orders, sessions, usage) as it was.
 */
let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(1, { readSide: true, sagas: { installDelayMs: 100, tickMs: 100 } });
});
afterAll(() => platform?.stop());

const bearer = (userId: string, tenantId: string, role: 'user' | 'tenant_admin' = 'user') => ({
  Authorization: `Bearer ${signToken(platform.cfg.auth, { userId, tenantId, role })}`,
});
const admin = (tenant = 'acme') => bearer('admin-1', tenant, 'tenant_admin');
const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> =>
  platform.http[0]!(method, path, body, headers);
const ok = async (method: string, path: string, body: unknown, headers: Record<string, string>) => {
  const r = await call(method, path, body, headers);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; version: number; consistencyToken: string; eventIds: string[] };
};
/** A query that waits for the write whose consistency token it carries. */
const after = (token: string, headers: Record<string, string>) => ({ ...headers, 'X-Consistency-Token': token });

/** Every text value of every read-model table of the test's schema. */
async function readModelText(): Promise<string> {
  const db = platform.db!;
  const tables = (await db('pg_tables').where('schemaname', platform.cfg.database.schema!).select('tablename')) as Array<{
    tablename: string;
  }>;
  const rows = await Promise.all(tables.map(async ({ tablename }) => db(tablename).select()));
  return JSON.stringify(rows);
}

describe('erasure of a user’s personal data', () => {
  test('DELETE erases: the placeholder everywhere the user was copied, the money unchanged, nothing of the values left in the read models', async () => {
    const mark = String(randomInt(10 ** 8)).padStart(8, '0');
    const username = `erase-${mark}`;
    const email = `erase-${mark}@example.com`;
    const phone = `+86 139 ${mark.slice(0, 4)} ${mark.slice(4)}`;
    const user = await ok('POST', '/users', { username, email, phone }, admin());
    const device = await ok('POST', '/devices', newDevice(user.id), admin());
    await ok('POST', `/devices/${device.id}/start`, {}, admin());
    const stopped = await ok('POST', `/devices/${device.id}/stop`, { reason: 'user' }, admin());
    const order = await ok('POST', '/orders', newOrder(user.id), admin());
    const paid = await ok('POST', `/orders/${order.id}/pay`, { amount: newOrder(user.id).amount, paymentMethod: 'alipay' }, admin());
    const mine = bearer(user.id, 'acme');

    expect((await call('GET', `/devices/${device.id}`, undefined, after(stopped.consistencyToken, mine))).body).toMatchObject({
      user: { username, email, phone },
    });
    const sessionsBefore = await call('GET', `/billing/sessions?deviceId=${device.id}`, undefined, after(stopped.consistencyToken, mine));
    const orderBefore = await call('GET', `/orders/${order.id}`, undefined, after(paid.consistencyToken, mine));
    const usageBefore = await call('GET', `/billing/usage?userId=${user.id}`, undefined, admin());
    expect(orderBefore.body).toMatchObject({ user: { username, email }, status: 'paid' });
    expect(await readModelText()).toContain(email);

    const erased = await ok('DELETE', `/users/${user.id}`, { reason: 'leaving' }, mine);
    expect(erased.eventIds).toHaveLength(2);
    const events = (await platform.it.readAll(platform.topics.user.events)).filter((r) => r.event.aggregateId === user.id);
    expect(events.map((r) => r.event.type)).toEqual(['user.created', 'user.deleted', 'user.erased']);

    const wait = after(erased.consistencyToken, admin());
    const placeholder = { username: ERASED, email: ERASED, phone: ERASED };
    expect((await call('GET', `/users/${user.id}`, undefined, wait)).body).toMatchObject({ ...placeholder, status: 'deleted' });
    const deviceAfter = await call('GET', `/devices/${device.id}`, undefined, wait);
    expect(deviceAfter.body).toMatchObject({ user: { ...placeholder, status: 'deleted' } });
    const orderAfter = await call('GET', `/orders/${order.id}`, undefined, wait);
    expect(orderAfter.body).toEqual({ ...orderBefore.body, user: { username: ERASED, email: ERASED, status: 'deleted' } });
    const sessionsAfter = await call('GET', `/billing/sessions?deviceId=${device.id}`, undefined, wait);
    expect(sessionsAfter.body.items).toEqual(
      (sessionsBefore.body.items as Array<Record<string, unknown>>).map((s) => ({
        ...s,
        user: { username: ERASED, email: ERASED, status: 'deleted' },
      })),
    );
    expect((await call('GET', `/billing/usage?userId=${user.id}`, undefined, wait)).body).toEqual(usageBefore.body);

    // Not in any row of any read model (the user copies, devices, orders, sessions, the sagas' tables).
    const text = await readModelText();
    for (const value of [username, email, phone]) expect(text).not.toContain(value);
  });

  test('a tenant admin erases a user of their tenant only; an erased user has nothing left to erase', async () => {
    const user = await ok(
      'POST',
      '/users',
      { username: `e2-${randomUUID().slice(0, 8)}`, email: `e2-${randomUUID()}@example.com` },
      admin(),
    );
    expect(await call('POST', `/users/${user.id}/erase`, { reason: 'request' }, admin('globex'))).toMatchObject({ status: 404 });
    expect(await call('POST', `/users/${user.id}/erase`, { reason: 'request' }, bearer(user.id, 'acme'))).toMatchObject({ status: 403 });
    const first = await ok('POST', `/users/${user.id}/erase`, { reason: 'request' }, admin());
    expect(first).toMatchObject({ version: 3 });
    expect(first.eventIds).toHaveLength(2);
    const again = await ok('POST', `/users/${user.id}/erase`, { reason: 'request' }, admin());
    expect(again).toMatchObject({ version: 3, eventIds: [] });
    expect((await call('GET', `/users/${user.id}`, undefined, after(first.consistencyToken, admin()))).body).toMatchObject({
      username: ERASED,
      email: ERASED,
      phone: null,
      status: 'deleted',
    });
  });
});
