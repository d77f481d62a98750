import { eventTopics } from '../lib/topics';
import { largeDeviceSpec, newDevice, newOrder } from '../test/fixtures';
import { startTestPlatform, type TestPlatform } from '../test/platform';

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(1);
});
afterAll(() => platform?.stop());

const device = newDevice('u-1', { spec: largeDeviceSpec, tier: 'standard' });
const order = newOrder('u-1', { spec: largeDeviceSpec });

/** [what, method, path, body, expected status, a field named in the errors or a phrase of the detail] */
const table: Array<[string, string, string, unknown, number, string]> = [
  ['missing fields', 'POST', '/users', { username: 'alice' }, 400, 'email'],
  ['wrong type', 'POST', '/users', { username: 42, email: 'a@b.co' }, 400, 'username'],
  ['invalid email', 'POST', '/users', { username: 'alice', email: 'not-an-email' }, 400, 'email'],
  ['unknown field', 'POST', '/users', { username: 'alice', email: 'a@b.co', admin: true }, 400, 'admin'],
  ['unknown enum value', 'POST', '/users/u-1/status', { status: 'frozen' }, 400, 'status'],
  ['empty update', 'PATCH', '/users/u-1', {}, 400, 'at least one'],
  ['unknown tier', 'POST', '/devices', { ...device, tier: 'gold' }, 400, 'tier'],
  ['negative spec', 'POST', '/devices', { ...device, spec: { ...largeDeviceSpec, cpuCores: -1 } }, 400, 'spec.cpuCores'],
  ['negative money', 'POST', '/orders', { ...order, amount: { amount: -100, currency: 'CNY' } }, 400, 'amount.amount'],
  ['float money', 'POST', '/orders', { ...order, amount: { amount: 29.9, currency: 'CNY' } }, 400, 'amount.amount'],
  ['money as a string', 'POST', '/orders', { ...order, amount: { amount: '2990', currency: 'CNY' } }, 400, 'amount.amount'],
  ['bad currency', 'POST', '/orders', { ...order, amount: { amount: 2990, currency: 'yuan' } }, 400, 'amount.currency'],
  [
    'bad payment method',
    'POST',
    '/orders/o-1/pay',
    { amount: { amount: 1, currency: 'CNY' }, paymentMethod: 'cash' },
    400,
    'paymentMethod',
  ],
  ['install without app id', 'POST', '/app-installs', { userId: 'u-1', deviceId: 'd-1' }, 400, 'appId'],
  ['bad package name', 'POST', '/app-installs', { userId: 'u-1', deviceId: 'd-1', appId: 'not a package' }, 400, 'appId'],
  ['invalid JSON', 'POST', '/devices', '{"userId": "u-1", ', 400, 'malformed JSON body'],
  ['JSON that is not an object', 'POST', '/devices', '"just a string"', 400, 'malformed JSON body'],
  ['10 MB body', 'POST', '/devices', JSON.stringify({ ...device, name: 'x'.repeat(10 * 1024 * 1024) }), 413, 'too large'],
  ['malformed If-Match', 'PATCH', '/devices/d-1', { name: 'x' }, 400, 'If-Match'],
  ['id too long', 'POST', `/devices/${'d'.repeat(200)}/start`, {}, 400, 'id in the path'],
  ['unknown route', 'GET', '/nowhere', undefined, 404, 'no route'],
  ['malformed Authorization header', 'POST', '/devices', device, 401, 'Bearer <token>'],
  ['wrong method', 'PUT', '/devices', {}, 405, 'not allowed'],
];

describe('bad input gets a clear 4xx and appends nothing', () => {
  test.each(table)('%s → %s %s', async (_what, method, path, body, status, named) => {
    const admin = platform.tenantAdmin('default');
    const headers: Record<string, string> = {
      ...(named === 'Bearer <token>' ? { Authorization: 'Basic b3BzOm9wcw==' } : admin),
      ...(path.startsWith('/devices/d-1') ? { 'If-Match': 'v-one' } : {}),
    };
    const res = await platform.http[0]!(method, path, body, headers);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ status, title: expect.any(String), detail: expect.any(String) });
    expect(JSON.stringify(res.body)).toContain(named);
  });

  test('no topic holds anything after the table', async () => {
    const admin = await platform.it.admin();
    for (const t of eventTopics(platform.topics)) {
      for (const name of [t.events, t.commands].filter(Boolean)) {
        const offsets = await admin.fetchTopicOffsets(name);
        expect([name, offsets.every((o) => o.high === '0')]).toEqual([name, true]);
      }
    }
  });
});
