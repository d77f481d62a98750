import { request } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { largeDeviceSpec, newDevice, newOrder } from '../test/fixtures';
import { startTestPlatform, type TestPlatform } from '../test/platform';
import { waitFor } from '../test/support';

/**
 * Issue 12, each finding as a regression test, over HTTP on the real stack (command side and read side): bad input
 * gets a clear 4xx and changes nothing; what is accepted encodes, projects and is visible with its token.
 */
let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(1, { readSide: true, sagas: { paymentTimeoutMs: 600_000 } });
});
afterAll(() => platform?.stop());

const admin = () => platform.tenantAdmin('hostile');
const call = (...args: Parameters<(typeof platform.http)[0]>) => platform.http[0]!(...args);

let userId: string;
beforeAll(async () => {
  const r = await call('POST', '/users', { username: 'mallory', email: 'mallory@hostile.example' }, { 'X-Tenant-Id': 'hostile' });
  expect(r.status).toBe(201);
  userId = r.body.id as string;
});

const device = () => newDevice(userId, { spec: largeDeviceSpec, tier: 'standard' });
const order = () => newOrder(userId, { planId: 'p1', spec: largeDeviceSpec });

/** Sends raw bytes with raw headers (fetch would refuse or rewrite some of them). */
function rawRequest(method: string, path: string, headers: Record<string, string>, body?: Buffer | string) {
  const url = new URL(platform.sides[0]!.url);
  return new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('issue 12: every finding, before → after', () => {
  test('1. money past what the encoder holds (2^53 − 1) is a 400 naming the field, and the partition keeps answering', async () => {
    for (const amount of [2 ** 53 - 1, 2 ** 53 + 1, 1e12 + 1, 1e308]) {
      const r = await call('POST', '/orders', { ...order(), amount: { amount, currency: 'CNY' } }, admin());
      expect([amount, r.status, JSON.stringify(r.body)]).toEqual([amount, 400, expect.stringContaining('amount.amount')]);
    }
    const started = Date.now();
    expect((await call('POST', '/orders', { ...order(), amount: { amount: 1e12, currency: 'CNY' } }, admin())).status).toBe(201);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test('3. If-Match past any version is a 400 naming the header, at once (it waited 15 s for a 503)', async () => {
    const d = await call('POST', '/devices', device(), admin());
    const started = Date.now();
    const r = await call(
      'PATCH',
      `/devices/${d.body.id as string}`,
      { name: 'x' },
      { ...admin(), 'If-Match': '"99999999999999999999999"' },
    );
    expect(r).toMatchObject({ status: 400, body: { header: 'If-Match', detail: expect.stringContaining('If-Match') } });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  test('4. NUL and other control characters never pass the API (they were dropped by the read side: paid, no device)', async () => {
    const d = await call('POST', '/devices', device(), admin());
    const o = await call('POST', '/orders', order(), admin());
    const cases: Array<[string, string, Record<string, unknown>, string]> = [
      ['POST', '/devices', { ...device(), name: 'nul\u0000device' }, 'name'],
      ['POST', '/devices', { ...device(), name: 'lone \ud800 surrogate' }, 'name'],
      ['POST', '/orders', { ...order(), planName: 'Plan\u0000' }, 'planName'],
      [
        'POST',
        `/orders/${o.body.id as string}/pay`,
        { amount: { amount: 2990, currency: 'CNY' }, paymentMethod: 'card', paymentRef: 'r\u0000' },
        'paymentRef',
      ],
      ['POST', `/devices/${d.body.id as string}/stop`, { reason: 'why\u0000' }, 'reason'],
      ['POST', '/app-installs', { userId, deviceId: d.body.id, appId: 'com.a.b', appVersion: '1.0\u0007' }, 'appVersion'],
      ['POST', '/notifications', { userId, title: 't\u0000', content: 'c', cause: 'x' }, 'title'],
      ['POST', '/notifications', { userId, title: 't', content: 'c\u001b[31m', cause: 'x' }, 'content'],
    ];
    for (const [method, path, body, field] of cases) {
      const r = await call(method, path, body, admin());
      expect([path, field, r.status, r.body.errors]).toEqual([
        path,
        field,
        400,
        expect.arrayContaining([expect.objectContaining({ field })]),
      ]);
    }
  });

  test('the invariant: a 2xx command (CJK, emoji, a newline in free text) is visible through the query API with its token', async () => {
    const created = await call('POST', '/devices', { ...device(), name: '云手机 📱 «test»' }, admin());
    expect(created.status).toBe(201);
    const read = await call('GET', `/devices/${created.body.id as string}`, undefined, {
      ...admin(),
      'X-Consistency-Token': created.body.consistencyToken as string,
    });
    expect(read).toMatchObject({ status: 200, body: { name: '云手机 📱 «test»' } });
    const notice = await call('POST', '/notifications', { userId, title: '通知', content: 'line one\nline two', cause: 'test' }, admin());
    expect(notice.status).toBe(201);
    const list = await call('GET', `/notifications?userId=${userId}`, undefined, {
      ...admin(),
      'X-Consistency-Token': notice.body.consistencyToken as string,
    });
    expect((list.body.items as Array<{ content: string }>).map((n) => n.content)).toContain('line one\nline two');
  });

  test('5. a body that is not what its Content-Encoding says is a 400; TRACE and PROPFIND are problem JSON, not 500', async () => {
    const bad = await rawRequest(
      'POST',
      '/devices',
      { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', ...admin() },
      Buffer.from('this is not gzip'),
    );
    expect([bad.status, bad.type]).toEqual([400, expect.stringContaining('application/problem+json')]);
    const good = await rawRequest(
      'POST',
      '/devices',
      { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', ...admin() },
      gzipSync(JSON.stringify(device())),
    );
    expect(good.status).toBe(201);
    for (const method of ['TRACE', 'PROPFIND']) {
      const r = await rawRequest(method, '/devices', admin());
      expect([method, r.status, r.type]).toEqual([method, 501, expect.stringContaining('application/problem+json')]);
    }
  });

  test('6. headers are bounded and checked, each a 400 naming the header', async () => {
    const cases: Array<[string, string]> = [
      ['X-Correlation-Id', 'c'.repeat(8 * 1024)],
      ['X-Correlation-Id', 'has space'],
      ['Idempotency-Key', 'k'.repeat(8 * 1024)],
      ['X-Tenant-Id', 't'.repeat(8000)],
      ['X-Tenant-Id', 'a b'],
      ['X-Tenant-Id', 'a\tb'],
      ['If-Match', 'v-one'],
    ];
    for (const [header, value] of cases) {
      const r = await rawRequest(
        'POST',
        '/users',
        { 'Content-Type': 'application/json', [header]: value },
        JSON.stringify({ username: 'x1234', email: 'x@y.io' }),
      );
      expect([header, value.slice(0, 10), r.status, JSON.parse(r.body).header]).toEqual([header, value.slice(0, 10), 400, header]);
    }
  });

  test('6. what Node’s HTTP parser refuses (a NUL in a header, 20 KB of headers) is problem JSON too', async () => {
    const url = new URL(platform.sides[0]!.url);
    const send = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(url.port), url.hostname, () => socket.end(text));
        let got = '';
        socket.on('data', (c) => (got += c.toString()));
        socket.on('close', () => resolve(got));
        socket.on('error', reject);
      });
    const nul = await send('GET /devices HTTP/1.1\r\nHost: x\r\nX-Correlation-Id: a\u0000b\r\n\r\n');
    expect(nul).toMatch(/^HTTP\/1\.1 400 [^]*application\/problem\+json[^]*"status":400/);
    const big = await send(`GET /devices HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 [^]*"status":431/);
  });

  test('6. a body that is not JSON is a 415 (it was read as {}); DELETE bodies are read; error bodies are bounded', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const r = await rawRequest('POST', '/devices', { 'Content-Type': type, ...admin() }, 'name=phone');
      expect([type, r.status, r.type]).toEqual([type, 415, expect.stringContaining('application/problem+json')]);
    }
    const d = await call('POST', '/devices', device(), admin());
    const deleted = await call('DELETE', `/devices/${d.body.id as string}`, { reason: 'moved to another region' }, admin());
    expect(deleted.status).toBe(200);
    const events = await platform.it.readAll(platform.topics.device.events);
    expect(events.find((e) => e.event.eventId === (deleted.body.eventIds as string[])[0])?.event).toMatchObject({
      type: 'device.deleted',
      reason: 'moved to another region',
    });
    expect((await call('DELETE', `/devices/${d.body.id as string}`, { reason: 'x', extra: 1 }, admin())).status).toBe(400);

    const many = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]));
    const r = await call('POST', '/devices', { ...device(), ...many }, admin());
    expect(r.status).toBe(400);
    expect((r.body.errors as unknown[]).length).toBe(20);
    expect(r.body.omittedErrors).toBe(4980);
    expect(JSON.stringify(r.body).length).toBeLessThan(4096);
    const huge = { ...device(), [`${'k'.repeat(60_000)}`]: 1 };
    const h = await call('POST', '/devices', huge, admin());
    expect(h.status).toBe(400);
    expect(JSON.stringify(h.body).length).toBeLessThan(1024);
  });

  test('a body nested 20,000 levels deep with an Idempotency-Key is a 400, not a 500 (found by lib/hostile-requests)', async () => {
    // A user's command: the account check digests the request (method, path, body) before the route parses it.
    const deep = `{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const r = await call('POST', `/devices/no-such-device/start`, deep, {
      ...platform.bearer(userId, 'hostile'),
      'Idempotency-Key': 'deep-1',
    });
    expect([r.status, r.body.detail]).toEqual([400, 'the body is nested more than 32 levels deep']);
  });

  test('7. an Idempotency-Key with another request is a 422, never the first request’s result', async () => {
    const key = `k-${Date.now()}`;
    const first = await call('POST', '/orders', order(), { ...admin(), 'Idempotency-Key': key });
    expect(first.status).toBe(201);
    const replay = await call('POST', '/orders', order(), { ...admin(), 'Idempotency-Key': key });
    expect(replay).toMatchObject({ status: 200, body: { id: first.body.id } });
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
    const other = await call(
      'POST',
      '/orders',
      { ...order(), amount: { amount: 99_990_000, currency: 'USD' } },
      { ...admin(), 'Idempotency-Key': key },
    );
    expect(other).toMatchObject({ status: 422, body: { type: expect.stringContaining('idempotency_key_reused') } });
  });

  test('7. anonymous sign-ups sharing a key are separate requests: neither gets the other’s user, no name stays reserved', async () => {
    const key = `signup-${Date.now()}`;
    const headers = { 'X-Tenant-Id': 'hostile', 'Idempotency-Key': key };
    const a = await call('POST', '/users', { username: 'peggy', email: 'peggy@hostile.example' }, headers);
    const b = await call('POST', '/users', { username: 'victor', email: 'victor@hostile.example' }, headers);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.body.id).not.toBe(a.body.id);
    const again = await call('POST', '/users', { username: 'peggy', email: 'peggy@hostile.example' }, headers);
    expect(again).toMatchObject({ status: 200, body: { id: a.body.id } });
  });

  test('8. a rename that changes only letter case keeps the name reserved (a second "ua09" was let in)', async () => {
    const tenant = { 'X-Tenant-Id': 'hostile' };
    const u = await call('POST', '/users', { username: 'ua09', email: 'ua09@hostile.example' }, tenant);
    expect(u.status).toBe(201);
    const renamed = await call('PATCH', `/users/${u.body.id as string}`, { username: 'UA09' }, admin());
    expect(renamed.status).toBe(200);
    // Wait until the release policy has passed the rename (its group's committed offset), then try the old spelling.
    const position = renamed.body.position as { topic: string; partition: number; offset: string };
    const admin_ = await platform.it.admin();
    await waitFor(
      async () => {
        const [t] = await admin_.fetchOffsets({
          groupId: `${platform.topics.namespace}.reservation-release.policy`,
          topics: [position.topic],
        });
        const committed = t?.partitions.find((p) => p.partition === position.partition)?.offset ?? '-1';
        return BigInt(committed) > BigInt(position.offset) ? true : undefined;
      },
      { what: 'the release policy to pass the rename', timeoutMs: 20_000, intervalMs: 200 },
    );
    expect((await call('POST', '/users', { username: 'ua09', email: 'other-ua09@hostile.example' }, tenant)).status).toBe(409);
  });

  test('9. concurrent requests sharing a key: one 201, the others replays marked Idempotent-Replayed, all the same id', async () => {
    const key = `c-${Date.now()}`;
    const results = await Promise.all(
      Array.from({ length: 5 }, () => call('POST', '/devices', device(), { ...admin(), 'Idempotency-Key': key })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(results.filter((r) => r.headers.get('Idempotent-Replayed') === 'true')).toHaveLength(4);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
  });
});
