import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { openApiPath } from './openapi';
import { opsToken } from './auth';
import { fen, newDevice, newOrder } from '../test/fixtures';
import { startTestPlatform, type HttpResult, type TestPlatform } from '../test/platform';

/**
 * The OpenAPI document against the real platform: every route the Koa routers serve is documented (and nothing
 * else is), and real answers — successes and errors, of the command and the query API — each validate against
 * the document's schema for their path, method, status and content type (ajv, JSON Schema 2020-12).
 */
let platform: TestPlatform;
let doc: { paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, unknown> }> }>> };
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
beforeAll(async () => {
  platform = await startTestPlatform(1, { readSide: true, sagas: { installDelayMs: 60_000, tickMs: 100 } });
});
afterAll(() => platform?.stop());

/** `get /devices/{id}` → the statuses whose answers were checked against the document. */
const checked = new Map<string, Set<number>>();
const validators = new Map<string, ValidateFunction>();
const pointer = (...segments: string[]) => segments.map((s) => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/');

/** Validates a real answer against the document: the operation, the status and the content type must be documented, the body must match. */
function conform(method: string, koaPath: string, res: HttpResult): HttpResult {
  const path = openApiPath(koaPath);
  const op = doc.paths[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`${method} ${path} is not in the document`);
  const documented = op.responses[String(res.status)];
  if (!documented)
    throw new Error(`${method} ${path} answered ${res.status}, a status the document does not list: ${JSON.stringify(res.body)}`);
  const media = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  if (!(media in documented.content))
    throw new Error(`${method} ${path} ${res.status} answered ${media}, the document says ${Object.keys(documented.content)}`);
  const ref = `openapi.json#/${pointer('paths', path, method.toLowerCase(), 'responses', String(res.status), 'content', media, 'schema')}`;
  let validate = validators.get(ref);
  if (!validate) validators.set(ref, (validate = ajv.compile({ $ref: ref })));
  const body = media.startsWith('text/') ? (res.body.raw ?? '') : res.body;
  if (!validate(body)) {
    throw new Error(
      `${method} ${path} ${res.status} does not match the document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`,
    );
  }
  const key = `${method.toLowerCase()} ${path}`;
  checked.set(key, new Set([...(checked.get(key) ?? []), res.status]));
  return res;
}

/** Sends a request and checks its answer; `koaPath` names the route (`/devices/:id`), `path` the request. */
const send = async (method: string, koaPath: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  conform(method, koaPath, await platform.http[0]!(method, path, body, headers));

describe('OpenAPI document', () => {
  test('GET /openapi.json needs no token and is the document the app was built with', async () => {
    const res = await platform.http[0]!('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(JSON.parse(JSON.stringify(platform.sides[0]!.document)));
    doc = res.body as typeof doc;
    ajv.addSchema(doc, 'openapi.json');
    conform('GET', '/openapi.json', res);
    expect(res.body).toMatchObject({ openapi: '3.1.0', components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } });
  });

  test('every route the routers serve is documented, and every documented operation is served', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    expect([...platform.sides[0]!.routes].sort()).toEqual([...documented].sort());
  });

  test('real answers of both APIs, successes and errors, match the document', async () => {
    // Commands: sign-up (open), then the user's own commands and the tenant admin's.
    const signUp = await send(
      'POST',
      '/users',
      '/users',
      { username: 'oa-user', email: 'oa@example.com' },
      { 'X-Tenant-Id': 'oa', 'Idempotency-Key': 'oa-1' },
    );
    expect(signUp.status).toBe(201);
    const user = signUp.body.id as string;
    expect(
      (
        await send(
          'POST',
          '/users',
          '/users',
          { username: 'oa-user', email: 'oa@example.com' },
          { 'X-Tenant-Id': 'oa', 'Idempotency-Key': 'oa-1' },
        )
      ).status,
    ).toBe(200);
    const me = platform.bearer(user, 'oa');
    const admin = platform.tenantAdmin('oa');
    const patched = await send('PATCH', '/users/:id', `/users/${user}`, { phone: '+86 139 0000 0000' }, me);
    expect(patched.status).toBe(200);
    expect((await send('POST', '/users/:id/status', `/users/${user}/status`, { status: 'active' }, admin)).body).toMatchObject({
      eventIds: [],
      position: null,
    });
    const device = (await send('POST', '/devices', '/devices', newDevice(user, { name: 'oa phone' }), me)).body.id as string;
    expect((await send('PATCH', '/devices/:id', `/devices/${device}`, { name: 'renamed' }, me)).status).toBe(200);
    expect((await send('POST', '/devices/:id/start', `/devices/${device}/start`, {}, me)).status).toBe(200);
    expect((await send('POST', '/devices/:id/start', `/devices/${device}/start`, {}, me)).status).toBe(409);
    const stopped = await send('POST', '/devices/:id/stop', `/devices/${device}/stop`, { reason: 'night' }, me);
    const plan = newOrder(user, { amount: fen(990) });
    const order = (await send('POST', '/orders', '/orders', plan, me)).body.id as string;
    expect((await send('POST', '/orders/:id/pay', `/orders/${order}/pay`, { amount: fen(1), paymentMethod: 'alipay' }, me)).status).toBe(
      422,
    );
    expect((await send('POST', '/orders/:id/pay', `/orders/${order}/pay`, { amount: fen(990), paymentMethod: 'alipay' }, me)).status).toBe(
      200,
    );
    expect((await send('POST', '/orders/:id/refund', `/orders/${order}/refund`, { reason: 'x' }, me)).status).toBe(403);
    const refunded = await send('POST', '/orders/:id/refund', `/orders/${order}/refund`, { amount: fen(90), reason: 'outage' }, admin);
    expect(refunded.status).toBe(200);
    const other = (await send('POST', '/orders', '/orders', plan, me)).body.id as string;
    const cancelled = await send('POST', '/orders/:id/cancel', `/orders/${other}/cancel`, { reason: 'no' }, me);
    const install = (await send('POST', '/app-installs', '/app-installs', { userId: user, deviceId: device, appId: 'com.tencent.mm' }, me))
      .body.id as string;
    const failing = (await send('POST', '/app-installs', '/app-installs', { userId: user, deviceId: device, appId: 'com.example.app' }, me))
      .body.id as string;
    expect((await send('POST', '/app-installs/:id/complete', `/app-installs/${install}/complete`, {}, admin)).status).toBe(200);
    expect((await send('POST', '/app-installs/:id/fail', `/app-installs/${failing}/fail`, { reason: 'no space' }, admin)).status).toBe(200);
    const notice = (
      await send('POST', '/notifications', '/notifications', { userId: user, title: 't', content: 'c', cause: 'operator' }, admin)
    ).body.id as string;
    const read = await send('POST', '/notifications/:id/read', `/notifications/${notice}/read`, {}, me);

    // Command errors.
    expect((await send('POST', '/devices', '/devices', { userId: user }, me)).status).toBe(400);
    expect((await send('POST', '/devices', '/devices', '{"userId": ', me)).status).toBe(400);
    expect((await send('POST', '/devices', '/devices', { userId: user, name: 'x'.repeat(2 * 1024 * 1024) }, me)).status).toBe(413);
    expect((await send('POST', '/devices/:id/start', '/devices/nope/start', {}, me)).status).toBe(404);
    expect((await send('POST', '/devices/:id/start', `/devices/${device}/start`, {}, {})).status).toBe(401);
    expect((await send('PATCH', '/devices/:id', `/devices/${device}`, { name: 'x' }, { ...me, 'If-Match': '"1"' })).body).toMatchObject({
      status: 409,
      currentVersion: 4,
    });

    // Queries, each after the writes it shows (read-your-writes), as the user and as the admin. (The paid order
    // also makes the purchase-plan saga allocate a device: the user may have two.)
    const after = (r: HttpResult) => ({ 'X-Consistency-Token': r.body.consistencyToken as string });
    expect((await send('GET', '/devices', '/devices', undefined, { ...me, ...after(stopped) })).body.items).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: device })]),
    );
    const detail = await send('GET', '/devices/:id', `/devices/${device}`, undefined, { ...me, ...after(stopped) });
    expect(detail.body).toMatchObject({ name: 'renamed', status: 'stopped', user: { username: 'oa-user' } });
    expect((await send('GET', '/users', '/users', undefined, { ...admin, ...after(patched) })).body.items).toHaveLength(1);
    expect((await send('GET', '/users/:id', `/users/${user}`, undefined, me)).body).toMatchObject({ phone: '+86 139 0000 0000' });
    expect((await send('GET', '/orders', '/orders?limit=1', undefined, { ...me, ...after(cancelled) })).body.next).toEqual(
      expect.any(String),
    );
    expect((await send('GET', '/orders/:id', `/orders/${order}`, undefined, { ...me, ...after(refunded) })).body).toMatchObject({
      status: 'partially_refunded',
    });
    expect(
      (await send('GET', '/billing/sessions', `/billing/sessions?deviceId=${device}`, undefined, { ...me, ...after(stopped) })).body.items,
    ).toHaveLength(1);
    expect((await send('GET', '/billing/usage', '/billing/usage', undefined, me)).body).toMatchObject({ totals: { sessions: 1 } });
    expect((await send('GET', '/notifications', '/notifications', undefined, { ...me, ...after(read) })).body.items).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: notice, read: true })]),
    );
    const ops = { Authorization: `Bearer ${opsToken(platform.cfg.auth)}` };
    await send('GET', '/projections/status', '/projections/status', undefined, ops);
    await send('GET', '/metrics', '/metrics', undefined, ops);
    expect((await send('GET', '/metrics', '/metrics')).status).toBe(401);
    expect((await send('GET', '/projections/status', '/projections/status', undefined, me)).status).toBe(401);

    // The operations console: its page and assets, and its JSON API (the operator token).
    for (const asset of ['/console', '/console/app.js', '/console/app.css']) expect((await send('GET', asset, asset)).status).toBe(200);
    for (const p of [
      '/console/api/topics',
      '/console/api/projections',
      '/console/api/dead-letters',
      '/console/api/schemas',
      '/console/api/rebuilds',
    ])
      expect((await send('GET', p, p, undefined, ops)).status).toBe(200);
    const history = `/console/api/aggregates/device/${device}`;
    expect((await send('GET', '/console/api/aggregates/:aggregate/:id', history, undefined, ops)).status).toBe(200);
    expect((await send('GET', '/console/api/aggregates/:aggregate/:id', `${history}?limit=0`, undefined, ops)).status).toBe(400);
    expect((await send('GET', '/console/api/topics', '/console/api/topics')).status).toBe(401);
    const redrive = '/console/api/redrive/:projection';
    expect((await send('POST', redrive, '/console/api/redrive/device', { dryRun: true }, ops)).body).toMatchObject({ dryRun: true });
    expect((await send('POST', redrive, '/console/api/redrive/nope', {}, ops)).status).toBe(400);
    expect((await send('POST', redrive, '/console/api/redrive/device', {}, me)).status).toBe(401);

    // The live push (the test client reads a stream's status and headers, then hangs up).
    expect((await send('GET', '/stream', '/stream', undefined, me)).status).toBe(200);
    expect((await send('GET', '/stream', '/stream')).status).toBe(401);
    expect((await send('GET', '/stream', '/stream', undefined, { ...me, 'Last-Event-ID': 'x' })).status).toBe(400);

    // Query errors.
    expect((await send('GET', '/devices', '/devices')).status).toBe(401);
    expect((await send('GET', '/devices', '/devices?status=flying', undefined, me)).status).toBe(400);
    expect((await send('GET', '/orders/:id', '/orders/nope', undefined, me)).status).toBe(404);
    const future = Buffer.from(JSON.stringify([{ topic: platform.topics.device.events, partition: 0, offset: '999999' }])).toString(
      'base64url',
    );
    expect((await send('GET', '/devices', '/devices', undefined, { ...me, 'X-Consistency-Token': future })).status).toBe(503);

    // Last: the deletions.
    expect((await send('DELETE', '/devices/:id', `/devices/${device}`, {}, me)).status).toBe(200);
    expect((await send('DELETE', '/users/:id', `/users/${user}`, { reason: 'done' }, me)).status).toBe(200);
    expect((await send('POST', '/users/:id/erase', `/users/${user}/erase`, { reason: 'request' }, admin)).body).toMatchObject({
      eventIds: [],
    });

    // Every documented operation answered at least one success that matched.
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    const succeeded = [...checked].filter(([, statuses]) => [...statuses].some((s) => s < 300)).map(([k]) => k);
    expect(succeeded.sort()).toEqual(documented.sort());
  });

  test('the check has teeth: a drifted answer (a field added, removed or of another type) does not match', async () => {
    const me = platform.bearer('nobody', 'oa', 'tenant_admin');
    const res = await platform.http[0]!('GET', '/devices?limit=1', undefined, me);
    const item = (res.body.items as Array<Record<string, unknown>>)[0]!;
    const { name: _n, ...missing } = item;
    for (const drifted of [{ ...item, extra: 1 }, missing, { ...item, version: '4' }, { ...item, createdAt: 'yesterday' }]) {
      expect(() => conform('GET', '/devices', { ...res, body: { items: [drifted], next: null } })).toThrow(/does not match the document/);
    }
    expect(() => conform('GET', '/devices', { ...res, status: 500 })).toThrow(/a status the document does not list/);
  });

  test('the document is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator against the official schema)', async () => {
    // The validator is an ES module: run its CLI in a process of its own rather than through jest's module loader
    // (asynchronously: the platform under test runs in this process and must not be stalled).
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'openapi-')), 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    const cli = require.resolve('@seriousme/openapi-schema-validator/bin/validate-api-cli.js');
    const { stdout } = await promisify(execFile)(process.execPath, [cli, file], { encoding: 'utf8' });
    const result = JSON.parse(stdout) as { valid: boolean; errors?: unknown };
    expect(result).toEqual({ valid: true });
  });
});
