import { connect } from 'node:net';
import { startTestPlatform, type HttpResult } from '../test/platform';
import { waitFor } from '../test/support';

/**
 * The query API never answers 500 to hostile input: every query parameter, decoded cursor, path id and
 * X-Consistency-Token that PostgreSQL could not take (NUL, control characters, broken Unicode, huge values, unreal
 * dates) is a 400 problem naming the parameter, and the SQL never sees it. Valid paging still works.
 */
let platform: Awaited<ReturnType<typeof startTestPlatform>>;
beforeAll(async () => {
  platform = await startTestPlatform(1, { readSide: true, sagas: { installDelayMs: 100, tickMs: 100 } });
});
afterAll(() => platform?.stop());

type Json = Record<string, unknown>;
const TENANT = 'hostile';
const spec = { cpuCores: 2, memoryMb: 4096, storageGb: 32, androidVersion: '13' };
const admin = () => platform.bearer('admin-1', TENANT, 'tenant_admin');
const call = (path: string, headers: Record<string, string> = {}): Promise<HttpResult> =>
  platform.http[0]!('GET', path, undefined, { ...admin(), ...headers });
const command = async (method: string, path: string, body: unknown) => {
  const r = await platform.http[0]!(method, path, body, admin());
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; consistencyToken: string };
};
const b64 = (s: string) => Buffer.from(s).toString('base64url');
const token = (positions: unknown) => b64(JSON.stringify(positions));

/** A 400 problem document naming `param`, in its detail or in the field of one of its errors. */
function expectBadParam(r: HttpResult, param: string, what: string): void {
  const errors = (r.body.errors ?? []) as Array<{ field: string }>;
  const named = String(r.body.detail).includes(param) || errors.some((e) => e.field === param);
  expect({ what, status: r.status, type: r.headers.get('content-type'), named }).toEqual({
    what,
    status: 400,
    type: expect.stringContaining('application/problem+json'),
    named: true,
  });
}

const LISTS = ['/devices', '/users', '/orders', '/billing/sessions', '/notifications'];
/** Every text filter of every endpoint (the others are enums, checked too). */
const FILTERS: Array<[string, string]> = [
  ['/devices', 'userId'],
  ['/devices', 'status'],
  ['/users', 'status'],
  ['/orders', 'userId'],
  ['/orders', 'status'],
  ['/billing/sessions', 'userId'],
  ['/billing/sessions', 'deviceId'],
  ['/billing/sessions', 'status'],
  ['/billing/sessions', 'from'],
  ['/billing/sessions', 'to'],
  ['/billing/usage', 'userId'],
  ['/billing/usage', 'from'],
  ['/billing/usage', 'to'],
  ['/notifications', 'userId'],
  ['/notifications', 'unread'],
];
/** Hostile values as they travel in a query string (percent-encoded). */
const HOSTILE_VALUES: Array<[string, string]> = [
  ['NUL', '%00'],
  ['NUL inside', 'abc%00def'],
  ['a control character', 'abc%01'],
  ['unit separator', '%1F'],
  ['DEL', 'abc%7F'],
  ['a newline', 'abc%0Adef'],
  ['a lone surrogate (raw UTF-8 bytes)', '%ED%A0%80'],
  ['invalid UTF-8', '%FF%FE'],
  ['10,000 characters', 'x'.repeat(10_000)],
  ['a space', 'a%20b'],
];

let users: string[] = [];
let devices: string[] = [];

describe('hostile query input is a 400 naming the parameter', () => {
  beforeAll(async () => {
    const alice = await command('POST', '/users', { username: 'alice', email: 'alice@hostile.io' });
    const bob = await command('POST', '/users', { username: 'bob', email: 'bob@hostile.io' });
    users = [alice.id, bob.id];
    const d1 = await command('POST', '/devices', { userId: alice.id, name: 'one', spec, tier: 'basic', region: 'cn-east' });
    const d2 = await command('POST', '/devices', { userId: alice.id, name: 'two', spec, tier: 'basic', region: 'cn-east' });
    devices = [d1.id, d2.id];
    for (let i = 0; i < 2; i++) {
      await command('POST', `/devices/${d1.id}/start`, {});
      await command('POST', `/devices/${d1.id}/stop`, {});
    }
    const order = { userId: alice.id, planId: 'p', planName: 'Plan', amount: { amount: 990, currency: 'CNY' }, spec };
    await command('POST', '/orders', { ...order, tier: 'basic', region: 'cn-east' });
    const last = await command('POST', '/orders', { ...order, tier: 'basic', region: 'cn-east' });
    // The read models have applied every write (sessions: the last stop; orders: the last order).
    await waitFor(
      async () => ((await call(`/billing/sessions?deviceId=${d1.id}&status=closed`)).body.items as Json[]).length === 2 || undefined,
      {
        what: 'two closed sessions',
      },
    );
    expect((await call('/orders', { 'X-Consistency-Token': last.consistencyToken })).status).toBe(200);
    await waitFor(async () => ((await call('/devices')).body.items as Json[]).length === 2 || undefined, { what: 'two devices' });
    await waitFor(async () => ((await call('/users')).body.items as Json[]).length === 2 || undefined, { what: 'two users' });
    await waitFor(async () => ((await call('/notifications')).body.items as Json[]).length >= 2 || undefined, { what: 'notifications' });
  });

  test.each(FILTERS.flatMap(([path, param]) => HOSTILE_VALUES.map(([what, value]) => [path, param, what, value] as const)))(
    '%s?%s= %s',
    async (path, param, what, value) => {
      expectBadParam(await call(`${path}?${param}=${value}`), param, what);
    },
  );

  test('a repeated filter, an unknown parameter (even __proto__ or NUL) and a bad limit are 400s naming them', async () => {
    for (const path of [...LISTS, '/billing/usage']) {
      expectBadParam(await call(`${path}?__proto__=1`), '__proto__', `${path} __proto__`);
      expectBadParam(await call(`${path}?%00=1`), '\u0000', `${path} a NUL parameter name`);
      expectBadParam(await call(`${path}?constructor=x`), 'constructor', `${path} constructor`);
    }
    for (const [path, param] of FILTERS) expectBadParam(await call(`${path}?${param}=a&${param}=b`), param, `${path} repeated ${param}`);
    for (const path of LISTS) {
      for (const limit of ['%00', '0', '-1', '201', '1.5', 'abc', '1e400', '99999999999999999999999', 'x'.repeat(10_000)]) {
        expectBadParam(await call(`${path}?limit=${limit}`), 'limit', `${path} limit=${limit.slice(0, 20)}`);
      }
    }
  });

  test('cursors that are not base64url JSON {"after": text} are 400s naming the cursor', async () => {
    const cursors: Array<[string, string]> = [
      ['not base64url', 'not%20base64!'],
      ['NUL', '%00'],
      ['NUL inside base64url', `${b64(JSON.stringify({ after: 'a' }))}%00`],
      ['raw lone surrogate bytes', '%ED%A0%80'],
      ['10,000 characters', 'A'.repeat(10_000)],
      ['not JSON', b64('not json')],
      ['JSON null', b64('null')],
      ['a JSON array', b64('[]')],
      ['no after', b64('{}')],
      ['after: a number', b64('{"after":42}')],
      ['after: an object', b64('{"after":{"a":1}}')],
      ['after: null', b64('{"after":null}')],
      ['after: an empty string', b64('{"after":""}')],
      ['after: NUL', b64('{"after":"\\u0000"}')],
      ['after: a control character', b64('{"after":"a\\u0007b"}')],
      ['after: a lone surrogate', b64('{"after":"\\ud800"}')],
      ['after: 257 characters', b64(JSON.stringify({ after: 'x'.repeat(257) }))],
      ['an extra field', b64(JSON.stringify({ after: 'a', where: '1=1' }))],
      ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64url')],
    ];
    for (const path of LISTS) {
      for (const [what, cursor] of cursors) expectBadParam(await call(`${path}?cursor=${cursor}`), 'cursor', `${path} cursor ${what}`);
    }
  });

  test('times and days are real ones (2026-02-31 is a 400, not a PostgreSQL error)', async () => {
    for (const day of [
      '2026-02-31',
      '2023-02-29',
      '9999-99-99',
      '2026-13-01',
      '2026-1-1',
      '20260101',
      'yesterday',
      '2026-01-01T00:00:00Z',
    ]) {
      for (const param of ['from', 'to']) expectBadParam(await call(`/billing/usage?${param}=${day}`), param, `usage ${param}=${day}`);
    }
    const times = [
      '2026-02-31T00:00:00Z',
      '9999-99-99T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T00:00:60Z',
      '2026-01-01T00:00:00%2B99:99',
      '2026-01-01',
    ];
    for (const time of times) {
      for (const param of ['from', 'to'])
        expectBadParam(await call(`/billing/sessions?${param}=${time}`), param, `sessions ${param}=${time}`);
    }
    // The extremes that are real answer 200.
    expect((await call('/billing/usage?from=0000-01-01&to=9999-12-31')).status).toBe(200);
    expect((await call('/billing/usage?from=2024-02-29&to=2024-02-29')).status).toBe(200);
    expect((await call('/billing/sessions?from=0000-01-01T00:00:00Z&to=9999-12-31T23:59:59.999999999Z')).status).toBe(200);
    expect((await call('/billing/sessions?from=2026-01-01T00:00:00%2B14:00')).status).toBe(200);
  });

  test('hostile ids in the path are 400s', async () => {
    for (const path of ['/devices', '/users', '/orders']) {
      for (const [what, value] of HOSTILE_VALUES) expectBadParam(await call(`${path}/${value}`), 'id in the path', `${path}/ ${what}`);
    }
  });

  test('hostile X-Consistency-Tokens are 400s naming the header, on every endpoint, at once', async () => {
    const topic = platform.topics.device.events;
    const at = (p: Json) => token([{ topic, partition: 0, offset: '1', ...p }]);
    const tokens: Array<[string, string]> = [
      ['not base64url', 'nonsense!'],
      ['a space inside', 'abc def'],
      ['not JSON', b64('not json')],
      ['an empty list', token([])],
      ['an object', b64(JSON.stringify({ topic, partition: 0, offset: '1' }))],
      ['a negative partition', at({ partition: -1 })],
      ['a huge partition', at({ partition: 2 ** 31 })],
      ['a fractional partition', at({ partition: 0.5 })],
      ['a negative offset', at({ offset: '-1' })],
      ['a numeric offset', at({ offset: 1 })],
      ['an offset past int64', at({ offset: '9223372036854775808' })],
      ['a 30-digit offset', at({ offset: '1'.repeat(30) })],
      ['an unknown topic', at({ topic: 'somebody-else.device.events' })],
      ['a NUL topic', at({ topic: '\u0000' })],
      ['a lone surrogate topic', b64(`[{"topic":"\\ud800","partition":0,"offset":"1"}]`)],
      ['an extra field', at({ sql: 'drop table devices' })],
      ['65 positions', token(Array.from({ length: 65 }, () => ({ topic, partition: 0, offset: '1' })))],
      ['10 KB', 'A'.repeat(10_000)],
      ['10 KB of positions', token(Array.from({ length: 120 }, () => ({ topic, partition: 0, offset: '1' })))],
    ];
    for (const path of [...LISTS, '/billing/usage', `/devices/${devices[0]}`, `/users/${users[0]}`]) {
      for (const [what, value] of tokens) {
        const started = Date.now();
        const r = await call(path, { 'X-Consistency-Token': value });
        expectBadParam(r, 'X-Consistency-Token', `${path} token ${what}`);
        expect(Date.now() - started).toBeLessThan(platform.cfg.consistencyTimeoutMs);
      }
    }
  });

  test('control characters in a header never reach a 500 (Node refuses them; a tab or Latin-1 reaches the API: 400)', async () => {
    const { hostname, port } = new URL(platform.sides[0]!.url);
    const raw = (value: Buffer) =>
      new Promise<{ status: number; type: string | undefined }>((resolve, reject) => {
        const socket = connect(Number(port), hostname, () => {
          const auth = admin().Authorization;
          socket.write(
            Buffer.concat([
              Buffer.from(`GET /devices HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: ${auth}\r\nX-Consistency-Token: `),
              value,
              Buffer.from('\r\nConnection: close\r\n\r\n'),
            ]),
          );
        });
        let data = '';
        socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
        socket.on('error', reject);
        socket.on('end', () => resolve({ status: Number(data.split(' ')[1]), type: /content-type: ([^\r]+)/i.exec(data)?.[1] }));
      });
    for (const bytes of [[0x61, 0x00, 0x62], [0x61, 0x01], [0x7f]]) expect((await raw(Buffer.from(bytes))).status).toBe(400);
    for (const bytes of [
      [0x61, 0x09, 0x62],
      [0xff, 0xfe],
    ]) {
      expect(await raw(Buffer.from(bytes))).toEqual({ status: 400, type: expect.stringContaining('application/problem+json') });
    }
  });
});

describe('valid input still works', () => {
  test('every list pages: first page, its next cursor, the second page, to the end, in key order', async () => {
    for (const path of LISTS) {
      const all = (await call(`${path}?limit=200`)).body.items as Json[];
      expect(all.length).toBeGreaterThanOrEqual(2);
      const first = await call(`${path}?limit=1`);
      expect(first).toMatchObject({ status: 200, body: { items: [{ id: all[0]!.id }], next: expect.any(String) } });
      const second = await call(`${path}?limit=1&cursor=${first.body.next as string}`);
      expect(second).toMatchObject({ status: 200, body: { items: [{ id: all[1]!.id }] } });
      const seen: unknown[] = [];
      let cursor: string | null = null;
      do {
        const page: HttpResult = await call(`${path}?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.status).toBe(200);
        seen.push(...(page.body.items as Json[]).map((i) => i.id));
        cursor = page.body.next as string | null;
      } while (cursor);
      expect(seen).toEqual(all.map((i) => i.id));
    }
  });

  test('valid filters, an empty cursor, and a valid token answer 200', async () => {
    const [alice] = users;
    expect((await call(`/devices?userId=${alice}&status=created`)).status).toBe(200);
    expect((await call(`/orders?userId=${alice}&status=created`)).status).toBe(200);
    expect((await call(`/billing/sessions?userId=${alice}&deviceId=${devices[0]}&status=closed&from=2020-01-01T00:00:00Z`)).status).toBe(
      200,
    );
    expect((await call(`/billing/usage?userId=${alice}&from=2020-01-01&to=2099-12-31`)).status).toBe(200);
    expect((await call(`/notifications?userId=${alice}&unread=true`)).status).toBe(200);
    expect((await call('/devices?cursor=')).status).toBe(200);
    const renamed = await command('PATCH', `/devices/${devices[1]}`, { name: 'renamed' });
    expect(await call(`/devices/${devices[1]}`, { 'X-Consistency-Token': renamed.consistencyToken })).toMatchObject({
      status: 200,
      body: { name: 'renamed' },
    });
  });
});
