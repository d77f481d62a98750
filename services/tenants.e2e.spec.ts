import { startTestPlatform, type TestPlatform } from '../test/platform';

/**
 * Tenants are registered (TENANTS): anonymous sign-up only into one that takes it, and an unknown tenant looks like
 * a closed one; a token of an unregistered tenant reaches nothing (issue 13).
 */
let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(1, { readSide: true, tenants: { acme: 'open', corp: 'closed' } });
}, 120_000);
afterAll(() => platform?.stop());

const signUp = (tenant: string, name: string) =>
  platform.http[0]!('POST', '/users', { username: name, email: `${name}@example.com` }, { 'X-Tenant-Id': tenant });

test('anonymous sign-up: into an open tenant 201; a closed and an unknown tenant answer alike (403 signup_closed)', async () => {
  expect((await signUp('acme', 'amy')).status).toBe(201);
  const closed = await signUp('corp', 'bob');
  const unknown = await signUp('ghost', 'bob');
  // Valid tenant ids that name a property of every JavaScript object are no registered tenant either.
  for (const inherited of ['constructor', 'hasownproperty']) expect(await signUp(inherited, 'bob')).toMatchObject({ status: 403 });
  expect(closed).toMatchObject({ status: 403, body: { type: expect.stringMatching(/\/signup_closed$/) } });
  expect([unknown.status, unknown.body]).toEqual([closed.status, closed.body]);
});

test('a closed tenant’s admin still registers users', async () => {
  const r = await platform.http[0]!('POST', '/users', { username: 'cid', email: 'cid@example.com' }, platform.tenantAdmin('corp'));
  expect(r.status).toBe(201);
});

test('a token of an unregistered tenant is refused by the command and the query API (403 tenant_unknown)', async () => {
  for (const tenant of ['ghost', 'constructor']) {
    const ghost = platform.bearer('u1', tenant, 'tenant_admin');
    for (const [method, path] of [
      ['POST', '/users'],
      ['GET', '/devices'],
      ['GET', '/orders'],
    ] as const) {
      const r = await platform.http[0]!(method, path, method === 'POST' ? { username: 'gus', email: 'gus@example.com' } : undefined, ghost);
      expect([tenant, method, path, r.status, r.body]).toEqual([
        tenant,
        method,
        path,
        403,
        expect.objectContaining({ type: expect.stringMatching(/\/tenant_unknown$/) }),
      ]);
    }
  }
});
