import { randomBytes, randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { signToken } from './auth';
import { waitFor } from './wait';
import type { SpanLine } from './tracing';
import { faultPlatform } from '../faults/platform';
import { PROJECTIONS } from '../platform/read-side';
import { newDevice } from '../test/fixtures';
import { client } from '../test/platform';
import { readSpans, treeLines } from '../scripts/trace';

/**
 * Tracing across processes: an API process and a projection worker process, both with TRACING=file; a client that
 * starts a trace (its `traceparent`) sends a command and then queries with the command's consistency token. The
 * spans of the request, the processor's decision, each projection's batch and the query's wait form one tree, linked
 * through the Kafka headers of the command and of its events; `npm run trace` prints it.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'cloudphone-traces-'));
let fp: Awaited<ReturnType<typeof faultPlatform>>;
beforeAll(async () => {
  // The platform's processes inherit this environment.
  process.env.TRACING = 'file';
  process.env.TRACE_DIR = dir;
  fp = await faultPlatform('tracing');
  await fp.startApi(0);
  fp.startWorker();
}, 180_000);
afterAll(async () => {
  await fp?.stop();
  delete process.env.TRACING;
  delete process.env.TRACE_DIR;
});

test('a command’s spans link into one tree across the API and the projection worker, and npm run trace prints it', async () => {
  const call = client(fp.apiUrl(0)!);
  const traceId = randomBytes(16).toString('hex');
  const traceparent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
  const correlationId = randomUUID();
  const user = await call(
    'POST',
    '/users',
    { username: `tr-${correlationId.slice(0, 8)}`, email: `${correlationId}@example.com` },
    {
      'X-Tenant-Id': 'trace',
    },
  );
  expect(user.status).toBe(201);
  const auth = { Authorization: `Bearer ${signToken(fp.cfg.auth, { userId: user.body.id as string, tenantId: 'trace', role: 'user' })}` };
  const created = await call('POST', '/devices', newDevice(user.body.id as string), {
    ...auth,
    traceparent,
    'X-Correlation-Id': correlationId,
  });
  expect(created.status).toBe(201);
  // The worker has just joined its groups: the query's bounded wait (2 s here) is for a worker that is running.
  await fp.caughtUp(PROJECTIONS.device!);
  const read = await call('GET', `/devices/${created.body.id as string}`, undefined, {
    ...auth,
    traceparent,
    'X-Consistency-Token': created.body.consistencyToken as string,
  });
  expect(read.status).toBe(200);

  // Spans are written in batches (every 0.5 s): wait for the worker's.
  const spans = await waitFor(
    () => {
      const mine = readSpans(dir).filter((s) => s.traceId === traceId);
      return mine.filter((s) => s.name.startsWith('project ')).length >= 2 && mine.some((s) => s.name.startsWith('GET '))
        ? mine
        : undefined;
    },
    { what: 'the spans of the trace', timeoutMs: 30_000, intervalMs: 200 },
  );
  const one = (f: (s: SpanLine) => boolean) => {
    const found = spans.filter(f);
    expect(found).toHaveLength(1);
    return found[0]!;
  };
  const request = one((s) => s.name === 'POST /devices');
  const decide = one((s) => s.name === 'decide CreateDevice');
  const projected = spans.filter((s) => s.name.startsWith('project '));
  const query = one((s) => s.name === 'GET /devices/:id');
  const wait = one((s) => s.name === 'wait for device');

  expect(request.parentSpanId).toBe(traceparent.split('-')[2]);
  expect(decide).toMatchObject({
    parentSpanId: request.spanId,
    attributes: { 'cloudphone.correlation_id': correlationId, 'cloudphone.events': 1 },
  });
  // Each read model of the device's events: the device and the billing projection, in the worker process.
  expect(projected.map((s) => s.name).sort()).toEqual(['project billing', 'project device']);
  for (const p of projected) {
    expect(p).toMatchObject({
      parentSpanId: decide.spanId,
      service: 'projections',
      attributes: { 'cloudphone.event_type': 'device.created' },
    });
  }
  expect(request.service).toBe(decide.service);
  expect(request.service).not.toBe('projections');
  expect(wait.parentSpanId).toBe(query.spanId);

  const tree = treeLines(spans, traceId);
  expect(tree[0]).toMatch(/^POST \/devices {2}\[api\]/);
  expect(tree).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^ {2}decide CreateDevice/),
      expect.stringMatching(/^ {4}project device {2}\[projections\]/),
    ]),
  );

  const cli = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'scripts', 'trace.ts'), correlationId], {
    env: { ...process.env, TRACE_DIR: dir },
    encoding: 'utf8',
  });
  expect(cli.status).toBe(0);
  expect(cli.stdout).toContain(`trace ${traceId}`);
  expect(cli.stdout).toMatch(/decide CreateDevice {2}\[api\] {2}\+[\d.]+ ms {2}[\d.]+ ms/);
  expect(cli.stdout).toContain('project billing  [projections]');
}, 120_000);
