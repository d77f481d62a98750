import { largeDeviceSpec, newDevice } from '../../test/fixtures';
import { startTestPlatform, withHeaders, type Call, type TestPlatform } from '../../test/platform';

let platform: TestPlatform;
/** The two instances, called by a tenant admin of `default` (the auth rules: services/auth.e2e.spec.ts). */
let a: Call, b: Call;
/** The user the devices are for (a device names a user of the tenant). */
let user: string;
beforeAll(async () => {
  platform = await startTestPlatform(2);
  [a, b] = platform.http.map((call) => withHeaders(call, platform.tenantAdmin('default'))) as [Call, Call];
  user = (await a('POST', '/users', { username: 'dana', email: 'dana@example.com' })).body.id as string;
});
afterAll(() => platform?.stop());

const device = () => newDevice(user, { spec: largeDeviceSpec, tier: 'standard' });

describe('device command API (two instances, real Kafka)', () => {
  test('create, start, stop, rename and delete a device; each answer names the new version and the events', async () => {
    const created = await a('POST', '/devices', device());
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ version: 1, eventIds: [expect.any(String)] });
    expect(created.headers.get('etag')).toBe('"1"');
    const id = created.body.id as string;
    expect((await b('POST', `/devices/${id}/start`, {})).body).toMatchObject({ id, version: 2 });
    expect((await a('POST', `/devices/${id}/stop`, { reason: 'user' })).body).toMatchObject({ version: 3 });
    expect((await b('PATCH', `/devices/${id}`, { name: 'work phone' })).body).toMatchObject({ version: 4 });
    expect((await a('DELETE', `/devices/${id}`, {})).body).toMatchObject({ version: 5 });

    const events = (await platform.it.readAll(platform.topics.device.events)).filter((r) => r.event.aggregateId === id);
    expect(events.map((r) => [r.event.type, r.event.aggregateVersion])).toEqual([
      ['device.created', 1],
      ['device.started', 2],
      ['device.stopped', 3],
      ['device.updated', 4],
      ['device.deleted', 5],
    ]);
    expect(events[3]!.event).toMatchObject({ name: 'work phone', userId: user, tenantId: 'default' });
  });

  test('rules and versions are enforced with 404, 409 and the current version', async () => {
    expect(await a('POST', '/devices/nope-1/start', {})).toMatchObject({ status: 404, body: { detail: 'device not found' } });
    const id = (await a('POST', '/devices', device())).body.id as string;
    expect(await a('POST', `/devices/${id}/stop`, {})).toMatchObject({
      status: 409,
      body: { detail: 'device is not running (it is created)' },
    });
    const stale = await a('PATCH', `/devices/${id}`, { name: 'x' }, { 'If-Match': '"7"' });
    expect(stale).toMatchObject({ status: 409, body: { currentVersion: 1 } });
    expect(await a('PATCH', `/devices/${id}`, { name: 'x' }, { 'If-Match': '"1"' })).toMatchObject({ status: 200, body: { version: 2 } });
  });

  test('concurrency: 100 commands on one device and 100 over 20 devices, through both instances, leave versions 1..N and one event set per 2xx', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 21; i++) ids.push((await a('POST', '/devices', device())).body.id as string);
    const [hot, ...spread] = ids;
    const command = (id: string, i: number) => {
      const call = i % 2 === 0 ? a : b;
      switch (i % 3) {
        case 0:
          return call('POST', `/devices/${id}/start`, {});
        case 1:
          return call('POST', `/devices/${id}/stop`, {});
        default:
          return call('PATCH', `/devices/${id}`, { name: `name-${i}` });
      }
    };
    const results = await Promise.all([
      ...Array.from({ length: 100 }, (_x, i) => command(hot!, i)),
      ...Array.from({ length: 100 }, (_x, i) => command(spread[i % 20]!, i)),
    ]);
    expect(results.every((r) => r.status === 200 || r.status === 409)).toBe(true);
    const accepted = results.filter((r) => r.status === 200);
    const rejected = results.filter((r) => r.status === 409);
    expect(accepted.length).toBeGreaterThan(60);
    expect(rejected.length).toBeGreaterThan(0);

    const events = (await platform.it.readAll(platform.topics.device.events)).filter((r) => ids.includes(r.event.aggregateId));
    const byDevice = new Map<string, number[]>();
    for (const r of events) byDevice.set(r.event.aggregateId, [...(byDevice.get(r.event.aggregateId) ?? []), r.event.aggregateVersion]);
    for (const id of ids) {
      const versions = byDevice.get(id) ?? [];
      expect(versions).toEqual(versions.map((_v, i) => i + 1));
    }
    // Each 2xx appended exactly its events; nothing else was appended (the 21 creations aside).
    const acknowledged = accepted.flatMap((r) => r.body.eventIds as string[]);
    const inTopic = events.filter((r) => r.event.type !== 'device.created').map((r) => r.event.eventId);
    expect(new Set(inTopic).size).toBe(inTopic.length);
    expect([...inTopic].sort()).toEqual([...acknowledged].sort());
  });

  test('the same POST three times with one Idempotency-Key creates one device', async () => {
    const key = { 'Idempotency-Key': 'create-device-once' };
    const first = await a('POST', '/devices', device(), key);
    const second = await b('POST', '/devices', device(), key);
    const third = await a('POST', '/devices', device(), key);
    expect(first.status).toBe(201);
    expect([second.status, third.status]).toEqual([200, 200]);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
    expect(third.body).toEqual(first.body);
    const created = (await platform.it.readAll(platform.topics.device.events)).filter((r) => r.event.aggregateId === first.body.id);
    expect(created).toHaveLength(1);
  });
});
