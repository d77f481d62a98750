import type { DecodedRecord } from '../lib/event-log';
import jwt from 'jsonwebtoken';
import { devKey } from '../lib/auth';
import { forgedToken, tokenWith } from '../test/tokens';
import { fen, newDevice, newOrder } from '../test/fixtures';
import { startTestPlatform, type HttpResult, type TestPlatform } from '../test/platform';

/**
 * The auth rules of the command API, HTTP in, response and topic contents out: a bearer token names the actor and
 * its tenant; a user commands only their own resources, a tenant admin anything of the tenant, nobody another
 * tenant's (404 like an unknown id); a new resource names a user the caller may name; operator commands are a
 * tenant admin's (403 for a user); sign-up is open.
 */
let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(1);
});
afterAll(() => platform?.stop());

const call = (method: string, path: string, body: unknown, headers: Record<string, string>): Promise<HttpResult> =>
  platform.http[0]!(method, path, body, headers);
const as = (userId: string, tenantId: string) => platform.bearer(userId, tenantId);
const adminOf = (tenantId: string) => platform.bearer(`admin-of-${tenantId}`, tenantId, 'tenant_admin');
const created = async (r: Promise<HttpResult>) => {
  const res = await r;
  if (res.status !== 201) throw new Error(`expected 201, got ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
};
const eventsOf = async (topic: string, aggregateId: string): Promise<DecodedRecord['event'][]> =>
  (await platform.it.readAll(topic)).filter((r) => r.event.aggregateId === aggregateId).map((r) => r.event);
const signUp = (username: string, tenant: string) =>
  created(call('POST', '/users', { username, email: `${username}@${tenant}.example` }, { 'X-Tenant-Id': tenant }));
const problem = (status: number, detail: string | RegExp) => ({
  status,
  body: { status, detail: typeof detail === 'string' ? detail : expect.stringMatching(detail) },
});

let alice: string, bob: string, carol: string;
let aliceDevice: string;

describe('command API auth', () => {
  test('sign-up is open and takes the tenant from X-Tenant-Id; with a token the tenant is the token’s, and a user may not register others', async () => {
    alice = await signUp('alice', 'acme');
    bob = await signUp('bob', 'acme');
    carol = await signUp('carol', 'globex');
    const byAdmin = await created(
      call('POST', '/users', { username: 'dora', email: 'dora@acme.example' }, { ...adminOf('acme'), 'X-Tenant-Id': 'globex' }),
    );
    expect(await call('POST', '/users', { username: 'eve', email: 'eve@acme.example' }, as(alice, 'acme'))).toMatchObject(
      problem(403, /a user cannot register users/),
    );
    const tenants = Object.fromEntries(
      (await platform.it.readAll(platform.topics.user.events)).map((r) => [r.event.aggregateId, r.event.tenantId]),
    );
    expect([tenants[alice], tenants[bob], tenants[carol], tenants[byAdmin]]).toEqual(['acme', 'acme', 'globex', 'acme']);
    expect(Object.values(tenants)).toHaveLength(4); // eve was never registered
  });

  test('no token or a bad one: 401 problem+json, nothing sent', async () => {
    const before = (await platform.it.endOffsets(platform.topics.device.commands)).map((o) => o.high);
    const body = newDevice(alice, { name: 'x' });
    const none = await call('POST', '/devices', body, { 'X-Tenant-Id': 'acme' });
    expect(none).toMatchObject(problem(401, 'a bearer token is required'));
    expect(none.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const forged = forgedToken(platform.cfg.auth, { userId: alice, tenantId: 'acme', role: 'tenant_admin' });
    expect(await call('POST', '/devices', body, { Authorization: `Bearer ${forged}` })).toMatchObject(
      problem(401, 'invalid token: signature verification failed'),
    );
    expect(await call('POST', '/orders/o-1/pay', {}, { Authorization: 'Bearer nonsense' })).toMatchObject({ status: 401 });
    expect(await call('DELETE', `/users/${alice}`, {}, {})).toMatchObject({ status: 401 });
    expect((await platform.it.endOffsets(platform.topics.device.commands)).map((o) => o.high)).toEqual(before);
  });

  test('tokens: the issuer, audience, iat and exp are required, a lifetime of at most 24 h, ES256/RS256 only (issue 13)', async () => {
    const a = platform.cfg.auth;
    const actor = { userId: 'admin-of-acme', tenantId: 'acme', role: 'tenant_admin' };
    const valid = { issuer: a.issuer, audience: a.audience };
    const publicJwk = JSON.stringify(devKey(a.devKeyFile!).publicJwk);
    const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({
        ...actor,
        iss: a.issuer,
        aud: a.audience,
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 600,
      }),
    ).toString('base64url')}.`;
    const bad: Array<[string, string, RegExp]> = [
      ['no exp', tokenWith(a, actor, valid), /"exp" claim/],
      ['valid for 100 years', tokenWith(a, actor, { ...valid, expiresIn: '36500d' }), /lives longer than 86400 s/],
      ['valid for 25 hours', tokenWith(a, actor, { ...valid, expiresIn: '25h' }), /lives longer than 86400 s/],
      [
        'issued 2 days ago',
        tokenWith(a, { ...actor, iat: Math.floor(Date.now() / 1000) - 2 * 86_400 }, { ...valid, expiresIn: '3d' }),
        /"iat"|lives longer/,
      ],
      ['expired', tokenWith(a, { ...actor, exp: Math.floor(Date.now() / 1000) - 120 }, valid), /"exp" claim timestamp check failed/],
      ['no iat', tokenWith(a, { ...actor, exp: Math.floor(Date.now() / 1000) + 600 }, { ...valid, noTimestamp: true }), /"iat" claim/],
      ['another issuer', tokenWith(a, actor, { issuer: 'https://evil.example', audience: a.audience, expiresIn: '1h' }), /"iss" claim/],
      ['another audience', tokenWith(a, actor, { issuer: a.issuer, audience: 'another-api', expiresIn: '1h' }), /"aud" claim/],
      ['alg none', unsigned, /invalid token/],
      [
        'HS256 keyed with the public key (algorithm confusion)',
        jwt.sign(actor, publicJwk, { algorithm: 'HS256', ...valid, expiresIn: '1h' }),
        /invalid token/,
      ],
      [
        'a 5,000-character tenantId',
        tokenWith(a, { ...actor, tenantId: 't'.repeat(5000) }, { ...valid, expiresIn: '1h' }),
        /valid userId, tenantId/,
      ],
      ['an unknown role', tokenWith(a, { ...actor, role: 'root' }, { ...valid, expiresIn: '1h' }), /known role/],
    ];
    for (const [what, token, detail] of bad) {
      const r = await call('POST', '/devices', {}, { Authorization: `Bearer ${token}` });
      expect([what, r.status, r.body.detail]).toEqual([what, 401, expect.stringMatching(detail)]);
    }
    const good = tokenWith(a, actor, { ...valid, expiresIn: '1h' });
    expect((await call('POST', '/devices', {}, { Authorization: `Bearer ${good}` })).status).toBe(400);
  });

  test('a user commands their own device; another user, another tenant’s admin and an unknown id all get the same 404', async () => {
    aliceDevice = await created(call('POST', '/devices', newDevice(alice, { name: 'alice phone' }), as(alice, 'acme')));
    expect(await call('POST', `/devices/${aliceDevice}/start`, {}, as(alice, 'acme'))).toMatchObject({ status: 200, body: { version: 2 } });

    const unknown = await call('POST', '/devices/no-such-device/stop', {}, as(bob, 'acme'));
    expect(unknown).toMatchObject(problem(404, 'device not found'));
    // Whoever asks, the answer about alice's device is the answer about an id that does not exist (a token whose
    // account does not exist — alice's id under globex — gets 403 account_unknown for both).
    for (const foreign of [as(bob, 'acme'), adminOf('globex'), as(alice, 'globex'), as(carol, 'globex')]) {
      const r = await call('POST', `/devices/${aliceDevice}/stop`, {}, foreign);
      expect(r.body).toEqual((await call('POST', '/devices/no-such-device/stop', {}, foreign)).body);
      // If-Match and Idempotency-Key answer as for an unknown id too.
      expect((await call('PATCH', `/devices/${aliceDevice}`, { name: 'mine' }, { ...foreign, 'If-Match': '"2"' })).body).toEqual(
        (await call('PATCH', '/devices/no-such-device', { name: 'mine' }, { ...foreign, 'If-Match': '"2"' })).body,
      );
    }
    expect(await call('DELETE', `/devices/${aliceDevice}`, {}, as(bob, 'acme'))).toMatchObject({ status: 404 });

    // acme's tenant admin may command it.
    expect(await call('POST', `/devices/${aliceDevice}/stop`, { reason: 'maintenance' }, adminOf('acme'))).toMatchObject({
      status: 200,
      body: { version: 3 },
    });
    const events = await eventsOf(platform.topics.device.events, aliceDevice);
    expect(events.map((e) => [e.type, e.tenantId, e.aggregateVersion])).toEqual([
      ['device.created', 'acme', 1],
      ['device.started', 'acme', 2],
      ['device.stopped', 'acme', 3],
    ]);
    expect(events[2]).toMatchObject({ reason: 'maintenance', userId: alice });
  });

  test('a resource names a user the caller may name: a user only themselves, an admin only their tenant’s (404 like an unknown user)', async () => {
    const forBob = newDevice(bob, { name: 'not mine' });
    const unknownUser = await call('POST', '/devices', { ...forBob, userId: 'no-such-user' }, adminOf('acme'));
    expect(unknownUser).toMatchObject(problem(404, 'user not found'));
    expect((await call('POST', '/devices', forBob, as(alice, 'acme'))).body).toEqual(unknownUser.body);
    expect((await call('POST', '/devices', { ...forBob, userId: carol }, adminOf('acme'))).body).toEqual(unknownUser.body);
    const order = newOrder(bob, { amount: fen(990) });
    expect(await call('POST', '/orders', order, as(alice, 'acme'))).toMatchObject(problem(404, 'user not found'));
    expect(await call('POST', '/orders', { ...order, userId: carol }, adminOf('acme'))).toMatchObject({ status: 404 });
    const install = { userId: bob, deviceId: aliceDevice, appId: 'com.tencent.mm' };
    expect(await call('POST', '/app-installs', install, as(alice, 'acme'))).toMatchObject({ status: 404 });
    const notice = { userId: carol, title: 't', content: 'c', cause: 'operator' };
    expect(await call('POST', '/notifications', notice, adminOf('acme'))).toMatchObject(problem(404, 'user not found'));

    const bobsDevice = await created(call('POST', '/devices', forBob, adminOf('acme')));
    const devices = (await platform.it.readAll(platform.topics.device.events)).filter((r) => r.event.type === 'device.created');
    // (read back across partitions: in no particular order)
    expect(Object.fromEntries(devices.map((r) => [r.event.aggregateId, (r.event as unknown as { userId: string }).userId]))).toEqual({
      [aliceDevice]: alice,
      [bobsDevice]: bob,
    });
    expect(await platform.it.readAll(platform.topics.order.events)).toEqual([]);
    expect(await platform.it.readAll(platform.topics.appInstall.events)).toEqual([]);
    expect(await platform.it.readAll(platform.topics.notification.events)).toEqual([]);
  });

  test('orders: a user pays and cancels their own; refunds are a tenant admin’s; another user’s order is a 404', async () => {
    const plan = newOrder(alice, { amount: fen(990) });
    const paid = await created(call('POST', '/orders', plan, as(alice, 'acme')));
    const open = await created(call('POST', '/orders', plan, as(alice, 'acme')));
    expect(await call('POST', `/orders/${paid}/pay`, { amount: fen(990), paymentMethod: 'alipay' }, as(bob, 'acme'))).toMatchObject(
      problem(404, 'order not found'),
    );
    expect(await call('POST', `/orders/${paid}/pay`, { amount: fen(990), paymentMethod: 'alipay' }, as(alice, 'acme'))).toMatchObject({
      status: 200,
    });
    expect(await call('POST', `/orders/${open}/cancel`, { reason: 'no' }, as(bob, 'acme'))).toMatchObject({ status: 404 });
    expect(await call('POST', `/orders/${open}/cancel`, { reason: 'changed my mind' }, as(alice, 'acme'))).toMatchObject({ status: 200 });
    expect(await call('POST', `/orders/${paid}/refund`, { reason: 'please' }, as(alice, 'acme'))).toMatchObject(
      problem(403, /only a tenant admin may POST/),
    );
    expect(await call('POST', `/orders/${paid}/refund`, { reason: 'outage' }, adminOf('globex'))).toMatchObject(
      problem(404, 'order not found'),
    );
    expect(await call('POST', `/orders/${paid}/refund`, { reason: 'outage' }, adminOf('acme'))).toMatchObject({ status: 200 });
    expect((await eventsOf(platform.topics.order.events, paid)).map((e) => e.type)).toEqual([
      'order.created',
      'order.paid',
      'order.refunded',
    ]);
    expect((await eventsOf(platform.topics.order.events, open)).map((e) => e.type)).toEqual(['order.created', 'order.cancelled']);
  });

  test('notifications and installs: operators send and report, a user reads their own', async () => {
    const notice = { userId: alice, title: '维护通知', content: '今晚维护', cause: 'operator' };
    expect(await call('POST', '/notifications', notice, as(alice, 'acme'))).toMatchObject({ status: 403 });
    const id = await created(call('POST', '/notifications', notice, adminOf('acme')));
    expect(await call('POST', `/notifications/${id}/read`, {}, as(bob, 'acme'))).toMatchObject(problem(404, 'notification not found'));
    expect(await call('POST', `/notifications/${id}/read`, {}, as(carol, 'globex'))).toMatchObject({ status: 404 });
    expect(await call('POST', `/notifications/${id}/read`, {}, as(alice, 'acme'))).toMatchObject({ status: 200, body: { version: 2 } });
    expect((await eventsOf(platform.topics.notification.events, id)).map((e) => [e.type, e.tenantId])).toEqual([
      ['notification.sent', 'acme'],
      ['notification.read', 'acme'],
    ]);

    const install = await created(
      call('POST', '/app-installs', { userId: alice, deviceId: aliceDevice, appId: 'com.tencent.mm' }, as(alice, 'acme')),
    );
    expect(await call('POST', `/app-installs/${install}/complete`, {}, as(alice, 'acme'))).toMatchObject({ status: 403 });
    expect(await call('POST', `/app-installs/${install}/fail`, { reason: 'x' }, adminOf('globex'))).toMatchObject(
      problem(404, 'install not found'),
    );
    expect(await call('POST', `/app-installs/${install}/complete`, {}, adminOf('acme'))).toMatchObject({ status: 200 });
  });

  test('users: a user changes and deletes only their own account; statuses are a tenant admin’s', async () => {
    expect(await call('PATCH', `/users/${bob}`, { phone: '+86 139 0000 0000' }, as(alice, 'acme'))).toMatchObject(
      problem(404, 'user not found'),
    );
    expect(await call('DELETE', `/users/${bob}`, {}, as(alice, 'acme'))).toMatchObject(problem(404, 'user not found'));
    expect(await call('PATCH', `/users/${alice}`, { username: 'zed' }, adminOf('globex'))).toMatchObject(problem(404, 'user not found'));
    expect(await call('PATCH', `/users/${alice}`, { phone: '+86 139 0000 0000' }, as(alice, 'acme'))).toMatchObject({
      status: 200,
      body: { version: 2 },
    });
    expect(await call('POST', `/users/${alice}/status`, { status: 'banned' }, as(alice, 'acme'))).toMatchObject(
      problem(403, /only a tenant admin/),
    );
    expect(await call('POST', `/users/${bob}/status`, { status: 'suspended' }, adminOf('globex'))).toMatchObject({ status: 404 });
    expect(await call('POST', `/users/${bob}/status`, { status: 'suspended', reason: 'unpaid' }, adminOf('acme'))).toMatchObject({
      status: 200,
    });
    // A suspended account may only read (services/account-status.e2e.spec.ts): its deletion is the tenant admin's.
    expect(await call('DELETE', `/users/${bob}`, { reason: 'leaving' }, as(bob, 'acme'))).toMatchObject(
      problem(403, 'your account is suspended: it may read, not change anything'),
    );
    expect(await call('DELETE', `/users/${bob}`, { reason: 'leaving' }, adminOf('acme'))).toMatchObject({ status: 200 });
    expect(await call('POST', '/devices', newDevice(bob, { name: 'x' }), adminOf('acme'))).toMatchObject(problem(409, 'user is deleted'));
    expect((await eventsOf(platform.topics.user.events, bob)).map((e) => e.type)).toEqual([
      'user.created',
      'user.status.changed',
      'user.deleted',
      'user.erased',
    ]);
    expect((await eventsOf(platform.topics.user.events, alice)).map((e) => e.type)).toEqual(['user.created', 'user.updated']);
    // "zed" was claimed in globex only while the refused rename ran: it is free again.
    await signUp('zed', 'globex');
  });

  test('an Idempotency-Key is the caller’s own: the same key from another user replays nothing of theirs', async () => {
    const key = { 'Idempotency-Key': 'start-it' };
    const device = await created(call('POST', '/devices', newDevice(alice, { name: 'k' }), as(alice, 'acme')));
    const first = await call('POST', `/devices/${device}/start`, {}, { ...as(alice, 'acme'), ...key });
    expect(first).toMatchObject({ status: 200, body: { version: 2 } });
    expect(await call('POST', `/devices/${device}/start`, {}, { ...as(alice, 'acme'), ...key })).toMatchObject({
      status: 200,
      body: first.body,
    });
    const dan = await signUp('dan', 'acme');
    expect(await call('POST', `/devices/${device}/start`, {}, { ...as(dan, 'acme'), ...key })).toMatchObject(
      problem(404, 'device not found'),
    );
  });
});
