import { randomUUID } from 'node:crypto';
import { signToken } from '../lib/auth';
import { newDevice, newOrder } from '../test/fixtures';
import { openStream, type Pushed, type Stream } from '../test/sse';
import { startTestPlatform, type HttpResult, type TestPlatform } from '../test/platform';
import { waitFor } from '../lib/wait';

/**
 * GET /stream (issue 17): the changes of the read models a caller may see, pushed as the projections apply them —
 * in order, once, resumable with Last-Event-ID, scoped as the query API is.
 */
let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(1, { readSide: true, sagas: { installDelayMs: 100, tickMs: 100 } });
});
afterAll(() => platform?.stop());

const url = () => `${platform.sides[0]!.url}/stream`;
const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> =>
  platform.http[0]!(method, path, body, headers);
const ok = async (method: string, path: string, body: unknown, headers: Record<string, string>) => {
  const r = await call(method, path, body, headers);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; version: number; consistencyToken: string };
};
const tenant = () => `t-${randomUUID().slice(0, 8)}`;
/** A user of the tenant, made by its admin; returns the user's id and bearer header. */
async function newUser(t: string): Promise<{ id: string; auth: Record<string, string> }> {
  const tag = randomUUID().slice(0, 8);
  const u = await ok('POST', '/users', { username: `s-${tag}`, email: `s-${tag}@example.com` }, platform.tenantAdmin(t));
  return { id: u.id, auth: platform.bearer(u.id, t) };
}
const streams: Stream[] = [];
async function stream(headers: Record<string, string>): Promise<Stream> {
  const s = await openStream(url(), headers);
  streams.push(s);
  // Connected once the stream named where it starts.
  await waitFor(() => (s.messages.some((m) => m.event === 'ready') ? true : undefined), {
    what: 'the stream to be ready',
    timeoutMs: 10_000,
  });
  return s;
}
afterEach(async () => {
  await Promise.all(streams.splice(0).map((s) => s.close()));
});
const changes = (s: Stream, kind?: string): Pushed[] =>
  s.messages.filter((m) => m.event !== 'ready' && m.event !== 'reset' && (!kind || m.event === kind));
const until = (s: Stream, what: string, done: (ms: Pushed[]) => boolean) =>
  waitFor(() => (done(changes(s)) ? true : undefined), { what, timeoutMs: 20_000, intervalMs: 50 });

describe('GET /stream', () => {
  test('a user sees their device go created → running → stopped and its metering session open and close, in order, once, as the query API shows them', async () => {
    const t = tenant();
    const u = await newUser(t);
    const s = await stream(u.auth);
    const device = await ok('POST', '/devices', newDevice(u.id, { name: 'pushed phone' }), u.auth);
    await ok('POST', `/devices/${device.id}/start`, {}, u.auth);
    const stopped = await ok('POST', `/devices/${device.id}/stop`, { reason: 'user' }, u.auth);

    await until(
      s,
      'the device stopped and its session closed',
      (ms) =>
        ms.some((m) => m.event === 'device' && m.data.status === 'stopped') &&
        ms.some((m) => m.event === 'session' && m.data.status === 'closed'),
    );
    const ids = changes(s).map((m) => Number(m.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    // One message per change as the projection committed it: a batch that applied several events pushes its result.
    const versions = changes(s, 'device').map((m) => m.data.version as number);
    expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
    expect(versions.at(-1)).toBe(stopped.version);
    expect(changes(s, 'session').map((m) => m.data.status)).toEqual(expect.arrayContaining(['closed']));

    // The pushed device is the query API's view of it (the list view: no apps).
    const read = await call('GET', `/devices/${device.id}`, undefined, { ...u.auth, 'X-Consistency-Token': stopped.consistencyToken });
    const { apps: _apps, ...view } = read.body;
    expect(changes(s, 'device').at(-1)!.data).toEqual(view);
  });

  test('nothing of another user or another tenant; a tenant admin sees the whole tenant and only it', async () => {
    const t = tenant();
    const other = tenant();
    const a = await newUser(t);
    const b = await newUser(t);
    const c = await newUser(other);
    const [sa, sb, sAdmin, sOtherAdmin] = await Promise.all([
      stream(a.auth),
      stream(b.auth),
      stream(platform.tenantAdmin(t)),
      stream(platform.tenantAdmin(other)),
    ]);
    const da = await ok('POST', '/devices', newDevice(a.id), a.auth);
    const order = await ok('POST', '/orders', newOrder(b.id), b.auth);
    const dc = await ok('POST', '/devices', newDevice(c.id), c.auth);

    await until(sAdmin, 'the admin to see both', (ms) => ms.some((m) => m.data.id === da.id) && ms.some((m) => m.data.id === order.id));
    await until(sOtherAdmin, 'the other admin to see its device', (ms) => ms.some((m) => m.data.id === dc.id));
    await until(sa, 'a to see its device', (ms) => ms.some((m) => m.data.id === da.id));
    await until(sb, 'b to see its order', (ms) => ms.some((m) => m.event === 'order' && m.data.id === order.id));
    // The other admin's device was pushed after the rest; give a stray message time to arrive, then look.
    await until(sOtherAdmin, 'the other admin to see its device', (ms) => ms.some((m) => m.data.id === dc.id));
    expect(changes(sa).every((m) => m.data.userId === a.id)).toBe(true);
    expect(changes(sb).every((m) => m.data.userId === b.id)).toBe(true);
    expect(changes(sAdmin).every((m) => m.data.userId === a.id || m.data.userId === b.id)).toBe(true);
    expect(changes(sOtherAdmin).every((m) => m.data.userId === c.id)).toBe(true);
  });

  test('reconnecting with Last-Event-ID resumes after it: no gap, no duplicate (header or query parameter)', async () => {
    const t = tenant();
    const u = await newUser(t);
    const first = await stream(u.auth);
    const device = await ok('POST', '/devices', newDevice(u.id), u.auth);
    await until(first, 'the created device', (ms) => ms.some((m) => m.data.id === device.id));
    const resumeFrom = first.lastId()!;
    await first.close();

    // Changes while the client is away.
    await ok('POST', `/devices/${device.id}/start`, {}, u.auth);
    const renamed = await ok('PATCH', `/devices/${device.id}`, { name: 'while away' }, u.auth);
    const again = await stream({ ...u.auth, 'Last-Event-ID': resumeFrom });
    await until(again, 'the rename', (ms) => ms.some((m) => m.event === 'device' && m.data.version === renamed.version));
    const missed = changes(again, 'device').map((m) => m.data.version);
    expect(missed.every((v) => (v as number) > 1)).toBe(true);
    expect(new Set(changes(again).map((m) => m.id)).size).toBe(changes(again).length);
    // Everything the two connections got is what one unbroken connection would have: every device version once.
    const both = [...changes(first, 'device'), ...changes(again, 'device')].map((m) => m.data.version as number);
    expect(new Set(both).size).toBe(both.length);

    const viaQuery = await stream({ ...u.auth });
    await viaQuery.close();
    const byParam = await openStream(`${url()}?lastEventId=${resumeFrom}`, u.auth);
    streams.push(byParam);
    await until(byParam, 'the same changes again', (ms) => ms.some((m) => m.event === 'device' && m.data.version === renamed.version));
    expect(changes(byParam).map((m) => m.id)).toEqual(changes(again).map((m) => m.id));
  });

  test('an id the stream never sent is a reset: the client starts at the head and is told to read afresh', async () => {
    const u = await newUser(tenant());
    const s = await stream({ ...u.auth, 'Last-Event-ID': '999999999999999' });
    // (The user's welcome notification may follow.)
    expect(s.messages.slice(0, 2).map((m) => m.event)).toEqual(['reset', 'ready']);
  });

  test.each([
    ['not digits', { 'Last-Event-ID': 'abc' }, ''],
    ['negative', { 'Last-Event-ID': '-1' }, ''],
    ['past 2^53', { 'Last-Event-ID': '9007199254740993' }, ''],
    ['a NUL byte', {}, '?lastEventId=1%00'],
    ['an unknown parameter', {}, '?since=0'],
    ['an unknown parameter beside a good Last-Event-ID', { 'Last-Event-ID': '1' }, '?since=0'],
    ['a 10,000-digit parameter', {}, `?lastEventId=${'9'.repeat(10_000)}`],
  ])('bad resume point (%s): 400, no stream', async (_what, headers, query) => {
    const u = await newUser(tenant());
    const s = await openStream(`${url()}${query}`, { ...u.auth, ...headers });
    streams.push(s);
    expect(s.status).toBe(400);
    expect(s.headers.get('content-type')).toContain('application/problem+json');
  });

  test('a stream ends when its token expires (the client reconnects with a fresh token and resumes)', async () => {
    const t = tenant();
    const u = await newUser(t);
    const shortLived = { Authorization: `Bearer ${signToken(platform.cfg.auth, { userId: u.id, tenantId: t, role: 'user' }, '3s')}` };
    const s = await stream(shortLived);
    const opened = Date.now();
    await waitFor(() => (s.ended() ? true : undefined), { what: 'the stream to end with its token', timeoutMs: 15_000, intervalMs: 100 });
    expect(Date.now() - opened).toBeLessThan(10_000);
  });

  test('no token: 401; more streams than a user may hold: 429', async () => {
    const none = await openStream(url(), {});
    streams.push(none);
    expect(none.status).toBe(401);
    const u = await newUser(tenant());
    const held = await Promise.all(Array.from({ length: platform.cfg.stream.maxPerUser }, () => stream(u.auth)));
    expect(held).toHaveLength(platform.cfg.stream.maxPerUser);
    const over = await openStream(url(), u.auth);
    streams.push(over);
    expect(over.status).toBe(429);
    expect((await over.problem()).type).toContain('too_many_streams');
  });
});
