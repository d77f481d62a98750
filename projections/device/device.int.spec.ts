import fc from 'fast-check';
import { loadConfig } from '../../lib/config';
import { createDb, migrate } from '../../lib/db';
import { applyBatch, memoryStore } from '../../lib/projection';
import { topicsFor } from '../../lib/topics';
import { buildStreams, deliver, historyArb } from '../../test/histories';
import { unique } from '../../test/support';
import { deviceProjection } from './projection';

const schema = unique('test_device').replace(/\W/g, '_');
const db = createDb(loadConfig().database.url, { schema, poolMax: 2 });
const topics = topicsFor('t');
const tables = Object.keys(deviceProjection.tables);

beforeAll(() => migrate(db, schema));
afterAll(async () => {
  await db.raw('drop schema if exists ?? cascade', [schema]);
  await db.destroy();
});

describe('device projection: convergence', () => {
  test('any cross-topic interleaving, in any batch sizes, gives the read model of the pure fold', async () => {
    let runNo = 0;
    await fc.assert(
      fc.asyncProperty(historyArb, async (h) => {
        const streams = buildStreams(h, { user: topics.user.events, device: topics.device.events, appInstall: topics.appInstall.events, order: topics.order.events }, `r${runNo++}`);
        const reference = memoryStore(deviceProjection);
        for (const s of streams) for (const e of s.events) if (deviceProjection.topics(topics).includes(s.topic)) reference.apply(e);

        await db.raw(`truncate ${tables.map(() => '??').join(', ')}`, tables);
        for (const batch of deliver(streams, h.schedule)) {
          if (!deviceProjection.topics(topics).includes(batch.stream.topic)) continue;
          await db.transaction((trx) => applyBatch(trx, deviceProjection, batch.events));
        }
        for (const t of tables) {
          const key = deviceProjection.tables[t]!.key;
          expect([t, await db(t).orderBy(key)]).toEqual([t, reference.rows(t)]);
        }
      }),
      { numRuns: 40 },
    );
  });

  test('a device created before its user gets the user fields when the user arrives, and keeps later changes', async () => {
    const streams = buildStreams(
      { users: [['rename', 'suspend']], devices: [{ owner: 0, tier: 'basic', ops: ['start'] }], orders: [], apps: [], schedule: [0] },
      { user: topics.user.events, device: topics.device.events, appInstall: topics.appInstall.events, order: topics.order.events },
      'late-user',
    );
    await db.raw(`truncate ${tables.map(() => '??').join(', ')}`, tables);
    const [users, devices] = [streams.find((s) => s.topic === topics.user.events)!, streams.find((s) => s.topic === topics.device.events)!];
    await db.transaction((trx) => applyBatch(trx, deviceProjection, devices.events));
    expect(await db('devices').first()).toMatchObject({ status: 'running', username: null, user_status: null });
    await db.transaction((trx) => applyBatch(trx, deviceProjection, users.events));
    expect(await db('devices').first()).toMatchObject({ status: 'running', username: 'user0-v0', email: 'user0@example.com', user_status: 'suspended', tenant_id: 'acme' });
  });
});
