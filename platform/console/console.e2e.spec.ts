import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { opsToken } from '../../lib/auth';
import { createEventLog } from '../../lib/event-log';
import { createProducer } from '../../lib/kafka';
import { createRegistry } from '../../lib/registry';
import { rebuildProjection } from '../../projections/rebuild';
import { PROJECTIONS } from '../read-side';
import { waitFor } from '../../lib/wait';
import { newDevice } from '../../test/fixtures';
import { startTestPlatform, type TestPlatform } from '../../test/platform';

/**
 * The operations console against the real platform: its JSON API behind the operator token (401 without it, 400
 * for hostile input), the page's security headers, and the page itself in a real browser (Debian's chromium,
 * driven by puppeteer-core): sign in with the operator token, the topics, an aggregate's events found by id, the
 * projections updating without a reload (their lag rising under load and falling back), the dead letters re-driven
 * after a fix. Screenshots go to .stack/test-output/console/.
 */
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.resolve(__dirname, '../../.stack/test-output/console');

let platform: TestPlatform;
let ops: Record<string, string>;
let deviceId: string;
let buggyId: string;
let me: Record<string, string>;
const tenant = 'console';

const get = (p: string, headers: Record<string, string> = {}) => platform.http[0]!('GET', p, undefined, headers);

beforeAll(async () => {
  platform = await startTestPlatform(1, { readSide: true });
  ops = { Authorization: `Bearer ${opsToken(platform.cfg.auth)}` };
  const user = await platform.http[0]!(
    'POST',
    '/users',
    { username: 'console-user', email: 'console@example.com' },
    { 'X-Tenant-Id': tenant },
  );
  expect(user.status).toBe(201);
  me = platform.bearer(user.body.id as string, tenant);
  const device = await platform.http[0]!('POST', '/devices', newDevice(user.body.id as string, { name: 'console phone' }), me);
  expect(device.status).toBe(201);
  deviceId = device.body.id as string;
  expect((await platform.http[0]!('POST', `/devices/${deviceId}/start`, {}, me)).status).toBe(200);
  expect((await platform.http[0]!('POST', `/devices/${deviceId}/stop`, { reason: 'night' }, me)).status).toBe(200);
  // A bug in the device read model, as a check its table should not have: the device named so is dead-lettered by
  // the device projection (the re-drive below comes after the fix: the check dropped).
  await platform.db!.raw(`alter table devices add constraint console_bug check (name <> 'console bug')`);
  const buggy = await platform.http[0]!('POST', '/devices', newDevice(user.body.id as string, { name: 'console bug' }), me);
  expect(buggy.status).toBe(201);
  buggyId = buggy.body.id as string;
  // A poison record on the device topic: the projections dead-letter it.
  const producer = createProducer(platform.it.kafka);
  await producer.connect();
  await producer.send({ topic: platform.topics.device.events, messages: [{ key: 'poison-console', value: Buffer.from('not avro') }] });
  await producer.disconnect();
}, 120_000);
afterAll(() => platform?.stop());

const API = [
  '/console/api/topics',
  '/console/api/projections',
  '/console/api/aggregates/device/some-id',
  '/console/api/dead-letters',
  '/console/api/schemas',
  '/console/api/rebuilds',
];

describe('the console’s JSON API', () => {
  test.each(API)('%s: 401 without the operator token, with a user’s or a forged one', async (p) => {
    for (const headers of [{}, platform.bearer('ops', tenant, 'tenant_admin'), { Authorization: 'Bearer not-the-token' }]) {
      const r = await get(p, headers);
      expect([p, r.status, r.headers.get('content-type')]).toEqual([p, 401, 'application/problem+json']);
    }
  });

  test('hostile aggregate names, ids and query parameters are 400 problems naming the field; an unknown id is a 404', async () => {
    const bad = [
      '/console/api/aggregates/nope/x',
      '/console/api/aggregates/__proto__/x',
      '/console/api/aggregates/device/a%20b',
      '/console/api/aggregates/device/%00',
      '/console/api/aggregates/device/%3Cscript%3E',
      `/console/api/aggregates/device/${'x'.repeat(129)}`,
      '/console/api/aggregates/device/x?limit=0',
      '/console/api/aggregates/device/x?limit=abc',
      '/console/api/aggregates/device/x?limit=1001',
      '/console/api/aggregates/device/x?extra=1',
      '/console/api/dead-letters?limit=-1',
      '/console/api/dead-letters?limit=201',
      '/console/api/dead-letters?limit=1&limit=2',
      '/console/api/topics?x=1',
    ];
    for (const p of bad) {
      const r = await get(p, ops);
      expect([p, r.status, r.body.type]).toEqual([p, 400, 'https://cloudphone.example/problems/invalid']);
      expect((r.body.errors as unknown[]).length).toBeGreaterThan(0);
    }
    const unknown = await get('/console/api/aggregates/device/never-made', ops);
    expect([unknown.status, unknown.body.detail]).toEqual([404, 'no events of device never-made']);
  });

  test('an aggregate’s history: every event decoded, with its position, schema id, correlation, causation and command', async () => {
    const r = await get(`/console/api/aggregates/device/${deviceId}`, ops);
    expect(r.status).toBe(200);
    const events = r.body.events as Array<Record<string, unknown>>;
    expect(events.map((e) => [e.type, e.version])).toEqual([
      ['device.created', 1],
      ['device.started', 2],
      ['device.stopped', 3],
    ]);
    for (const e of events) {
      expect(e).toMatchObject({
        partition: r.body.partition,
        offset: expect.stringMatching(/^\d+$/),
        schemaId: expect.any(Number),
        correlationId: expect.any(String),
        commandId: expect.any(String),
        tenantId: tenant,
        error: null,
      });
      // A command from the API: its event's causation is the command.
      expect(e.causationId).toBe(e.commandId);
    }
    expect(events[0]!.payload).toMatchObject({ name: 'console phone', region: 'cn-east' });
  });

  test('hostile re-drive requests are 400 problems and re-drive nothing', async () => {
    const post = (p: string, body: unknown) => platform.http[0]!('POST', p, body, ops);
    const before = await platform.db!('projection_redrives').count({ n: '*' }).first();
    for (const body of [
      { fromOffset: 2 ** 53 + 1 },
      { fromOffset: -1 },
      { fromOffset: 1.5 },
      { fromOffset: '0' },
      { dryRun: 'yes' },
      { dryRun: true, extra: 1 },
      [],
      'x'.repeat(70_000),
    ]) {
      const r = await post('/console/api/redrive/device', body);
      expect([body, r.status]).toEqual([body, expect.any(Number)]);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
    }
    for (const name of ['nope', '__proto__', 'device%00', 'device%0a', encodeURIComponent('<script>')]) {
      expect((await post(`/console/api/redrive/${name}`, {})).status).toBe(400);
    }
    expect(await platform.db!('projection_redrives').count({ n: '*' }).first()).toEqual(before);
  });

  test('a rebuild in progress is listed with its progress and ETA, and is gone once it is done', async () => {
    // The rebuild (a verify: nothing is swapped) replays into its shadow, then waits at its handover for the live
    // checkpoint rows, held here meanwhile.
    const hold = await platform.db!.transaction();
    await hold('projection_checkpoints').where({ projection: 'device' }).forUpdate();
    let replayed = 0;
    const rebuilding = rebuildProjection({
      cfg: platform.cfg,
      kafka: platform.it.kafka,
      eventLog: createEventLog(createRegistry(platform.cfg, 'reader')),
      logger: platform.it.logger,
      projection: PROJECTIONS.device!,
      verify: true,
      onProgress: (p) => (replayed = p.done),
    });
    try {
      await waitFor(() => (replayed > 0 ? true : undefined), { what: 'the rebuild to replay', timeoutMs: 60_000 });
      const listed = await waitFor(
        async () => {
          const r = (await get('/console/api/rebuilds', ops)).body.rebuilds as Array<Record<string, unknown>>;
          return r.length > 0 ? r : undefined;
        },
        { what: 'the rebuild to be listed', timeoutMs: 30_000, intervalMs: 200 },
      );
      expect(listed).toEqual([
        expect.objectContaining({
          projection: 'device',
          shadowSchema: expect.stringMatching(/^rebuild_device_/),
          state: 'replaying',
          total: expect.any(Number),
          done: expect.any(Number),
        }),
      ]);
      expect(listed[0]!.done as number).toBeGreaterThan(0);
      expect(listed[0]!.done as number).toBeLessThanOrEqual(listed[0]!.total as number);
    } finally {
      await hold.commit();
      await rebuilding;
    }
    expect((await get('/console/api/rebuilds', ops)).body.rebuilds).toEqual([]);
  }, 120_000);

  test('the page and its assets carry a strict CSP and nosniff; the script is same-origin and bundled', async () => {
    for (const p of ['/console', '/console/app.js', '/console/app.css']) {
      const res = await fetch(`${platform.sides[0]!.url}${p}`);
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toContain('unsafe');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      const body = await res.text();
      if (p === '/console') {
        expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
        expect(body).toContain('<script src="/console/app.js" defer></script>');
        expect(body).not.toMatch(/<script>|<style|https?:\/\//);
      }
      if (p === '/console/app.js') {
        expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
        expect(body).not.toContain('innerHTML');
      }
    }
  });
});

describe('the console in a browser', () => {
  let browser: Browser;
  let page: Page;
  const requests: string[] = [];
  const problems: string[] = [];
  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  const text = (testid: string) => page.$eval(`[data-testid="${testid}"]`, (e) => e.textContent ?? '');

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (npm test installs it)`);
    mkdirSync(SHOTS, { recursive: true });
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Root in a container has no user namespaces for chromium's sandbox.
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 900 });
    page.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
    page.on('console', (m) => {
      // Refusals the test asks for (401 wrong token, 400 hostile id, 404 re-drive probe) are logged by the browser too.
      if (m.type() === 'error' && !/status of 40[014]/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  test('sign in with the operator token, then topics, an aggregate, live projections, dead letters, schemas, rebuilds', async () => {
    const base = platform.sides[0]!.url;
    await page.goto(`${base}/console`);
    await page.waitForSelector('[data-testid="login"]');
    await shot('1-login');

    // A wrong token is refused and the form comes back.
    await page.type('[data-testid="token"]', 'not-the-token');
    await page.click('[data-testid="login-submit"]');
    await page.waitForFunction(`document.querySelector('[data-testid="login"]')?.textContent?.includes('refused')`);

    await page.type('[data-testid="token"]', opsToken(platform.cfg.auth));
    await page.click('[data-testid="login-submit"]');
    await page.waitForSelector('[data-testid="topics-table"]');
    expect(await text('topics-table')).toContain(platform.topics.device.events);
    expect(await page.evaluate('sessionStorage.length')).toBe(1);
    expect(await page.cookies()).toEqual([]);
    await shot('2-topics');

    // The aggregate by id.
    await page.click('[data-testid="tab-aggregate"]');
    await page.waitForSelector('[data-testid="aggregate-select"]');
    await page.select('[data-testid="aggregate-select"]', 'device');
    await page.type('[data-testid="aggregate-id"]', deviceId);
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid="events-table"]', { timeout: 60_000 });
    const events = await text('events-table');
    for (const type of ['device.created', 'device.started', 'device.stopped']) expect(events).toContain(type);
    await shot('3-aggregate');

    // A hostile id shows the API's 400 as text, and nothing of it runs.
    await page.$eval('[data-testid="aggregate-id"]', (e) => ((e as unknown as { value: string }).value = ''));
    await page.type('[data-testid="aggregate-id"]', '<img src=x onerror=alert(1)>');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid="aggregate-error"]');
    expect(await text('aggregate-error')).toContain('invalid id in the path');
    expect(await page.$('img')).toBeNull();

    // The projections refresh by themselves: a command sent now shows up without a reload.
    await page.click('[data-testid="tab-projections"]');
    await page.waitForSelector('[data-testid="applied-device"]');
    await page.evaluate('window.marker = 42');
    const before = await waitFor(
      async () => {
        const n = Number(await text('applied-device'));
        return n >= 3 ? n : undefined;
      },
      { what: 'the device projection to show the device’s events', timeoutMs: 30_000 },
    );
    expect((await platform.http[0]!('PATCH', `/devices/${deviceId}`, { name: 'renamed' }, me)).status).toBe(200);
    await page.waitForFunction(`Number(document.querySelector('[data-testid="applied-device"]')?.textContent) > ${before}`, {
      timeout: 30_000,
    });
    expect(await page.evaluate('window.marker')).toBe(42);

    // Lag rises under load and falls back: the device table held by a lock (the worker's batches wait on it) while
    // commands go on, then released.
    await page.waitForFunction(`document.querySelector('[data-testid="lag-device"]')?.textContent === '0'`, { timeout: 30_000 });
    const hold = await platform.db!.transaction();
    await hold.raw('lock table devices in exclusive mode');
    for (let i = 0; i < 5; i++)
      expect((await platform.http[0]!('PATCH', `/devices/${deviceId}`, { name: `load ${i}` }, me)).status).toBe(200);
    await page.waitForFunction(`Number(document.querySelector('[data-testid="lag-device"]')?.textContent) >= 5`, { timeout: 30_000 });
    await shot('4-projections-lagging');
    await hold.commit();
    await page.waitForFunction(`document.querySelector('[data-testid="lag-device"]')?.textContent === '0'`, { timeout: 30_000 });
    await shot('4-projections');

    // The dead letters: the poison record and the buggy device, with their errors and sources.
    await waitFor(async () => ((await get('/console/api/dead-letters', ops)).body.deadLetters as unknown[]).length >= 2 || undefined, {
      what: 'the poison record and the buggy device to be dead-lettered',
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    await page.click('[data-testid="tab-dead-letters"]');
    await page.waitForSelector('[data-testid="dead-letters-table"]', { timeout: 60_000 });
    const letters = await text('dead-letters-table');
    expect(letters).toContain('wire format');
    expect(letters).toContain(`${platform.topics.device.events}[`);
    expect(letters).toContain('console_bug');
    await shot('5-dead-letters');

    // The fix, then the re-drive from the page: the device is applied once; the poison record stays dead.
    expect((await get(`/devices/${buggyId}`, me)).status).toBe(404);
    await platform.db!.raw('alter table devices drop constraint console_bug');
    await page.click('[data-testid="redrive-device"]');
    await page.waitForFunction(`document.querySelector('[data-testid="redrive-device-result"]')?.textContent?.startsWith('re-driven')`, {
      timeout: 60_000,
    });
    // The poison record stays dead (dead-lettered once by the live worker, and again by the rebuild test's replay).
    expect(await text('redrive-device-result')).toMatch(/^re-driven: applied 1, failed [12]$/);
    expect((await get(`/devices/${buggyId}`, me)).body).toMatchObject({ id: buggyId, name: 'console bug', version: 1 });
    await shot('6-redriven');
    // Again: nothing more is applied.
    await page.click('[data-testid="redrive-device"]');
    await page.waitForFunction(
      `document.querySelector('[data-testid="redrive-device-result"]')?.textContent?.includes('already-applied')`,
      {
        timeout: 60_000,
      },
    );
    expect(await text('redrive-device-result')).toMatch(/^re-driven: failed [12], already-applied 1$/);

    await page.click('[data-testid="tab-schemas"]');
    await page.waitForSelector('[data-testid="schemas-table"]');
    expect(await text('schemas-table')).toContain(`${platform.topics.device.events}-`);
    await shot('7-schemas');

    await page.click('[data-testid="tab-rebuilds"]');
    await page.waitForSelector('[data-testid="no-rebuilds"], [data-testid="rebuilds-table"]');
    await shot('8-rebuilds');

    // Nothing was fetched from anywhere else, and the CSP was never broken.
    expect(requests.filter((u) => !u.startsWith(base))).toEqual([]);
    expect(problems).toEqual([]);
  }, 240_000);
});
