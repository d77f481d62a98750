import { startTestPlatform, type TestPlatform } from '../../test/platform';
import { waitFor } from '../../test/support';
import { ERASED } from './events';

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(2);
});
afterAll(() => platform?.stop());

/** Sign-up is open: the tenant comes from X-Tenant-Id. Everything else needs a token (here acme's tenant admin). */
const tenant = (t: string) => ({ 'X-Tenant-Id': t });
const admin = () => platform.tenantAdmin('acme');

describe('user command API: usernames and emails unique within a tenant', () => {
  test('register, and a taken username or email is a 409 (naming the field to a tenant admin only); another tenant may use them', async () => {
    const [a, b] = platform.http;
    const alice = await a!('POST', '/users', { username: 'alice', email: 'alice@example.com' }, tenant('acme'));
    expect(alice).toMatchObject({ status: 201, body: { version: 1 } });
    const sameName = await b!('POST', '/users', { username: 'Alice', email: 'other@example.com' }, admin());
    expect(sameName).toMatchObject({ status: 409, body: { detail: 'this username is already taken', field: 'username' } });
    const sameEmail = await b!('POST', '/users', { username: 'carol', email: 'ALICE@example.com' }, admin());
    expect(sameEmail).toMatchObject({ status: 409, body: { field: 'email' } });
    // Anonymous: the same answer for a taken username and a taken email, naming neither.
    const anonymous = [
      await b!('POST', '/users', { username: 'Alice', email: 'other@example.com' }, tenant('acme')),
      await b!('POST', '/users', { username: 'carol', email: 'ALICE@example.com' }, tenant('acme')),
    ];
    expect(anonymous.map((r) => [r.status, r.body])).toEqual([
      [409, expect.objectContaining({ type: expect.stringMatching(/\/signup_conflict$/) })],
      [409, expect.objectContaining({ type: expect.stringMatching(/\/signup_conflict$/) })],
    ]);
    expect(anonymous[0]!.body).toEqual(anonymous[1]!.body);
    // the refused request gave back the username it had claimed
    expect((await a!('POST', '/users', { username: 'carol', email: 'carol@example.com' }, tenant('acme'))).status).toBe(201);
    expect((await a!('POST', '/users', { username: 'alice', email: 'alice@example.com' }, tenant('globex'))).status).toBe(201);
  });

  test('ten concurrent registrations of one username over two instances: exactly one wins', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_x, i) =>
        platform.http[i % 2]!('POST', '/users', { username: 'dave', email: `dave${i}@example.com` }, tenant('acme')),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(9);
  });

  test('a renamed or deleted user frees its values for others', async () => {
    const [a] = platform.http;
    const erin = await a!('POST', '/users', { username: 'erin', email: 'erin@example.com', phone: '+86 138 0000 0000' }, tenant('acme'));
    const id = erin.body.id as string;
    expect(await a!('PATCH', `/users/${id}`, { username: 'erin2' }, admin())).toMatchObject({ status: 200, body: { version: 2 } });
    await waitFor(
      async () => {
        const r = await a!('POST', '/users', { username: 'erin', email: 'new-erin@example.com' }, tenant('acme'));
        return r.status === 201 ? r : undefined;
      },
      { what: 'the old username to be released', timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(await a!('POST', `/users/${id}/status`, { status: 'suspended', reason: 'unpaid' }, admin())).toMatchObject({
      status: 200,
    });
    expect(await a!('DELETE', `/users/${id}`, { reason: 'closed' }, admin())).toMatchObject({ status: 200, body: { version: 5 } });
    expect(await a!('PATCH', `/users/${id}`, { phone: '+86 139' }, admin())).toMatchObject({
      status: 409,
      body: { detail: 'user is deleted' },
    });
    await waitFor(
      async () =>
        (await a!('POST', '/users', { username: 'erin2', email: 'erin@example.com' }, tenant('acme'))).status === 201 ? true : undefined,
      { what: 'the deleted user’s values to be released', timeoutMs: 20_000, intervalMs: 200 },
    );
    const events = (await platform.it.readAll(platform.topics.user.events)).filter((r) => r.event.aggregateId === id);
    expect(events.map((r) => r.event.type)).toEqual(['user.created', 'user.updated', 'user.status.changed', 'user.deleted', 'user.erased']);
    // The values were freed from user.deleted's fields; then the user's key was destroyed: the log reads them as erased.
    expect(events[3]!.event).toMatchObject({ username: ERASED, email: ERASED, reason: ERASED, tenantId: 'acme' });
  });
});
