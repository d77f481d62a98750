import { applyBatch } from '../../lib/projection';
import { topicsFor } from '../../lib/topics';
import { buildStreams } from '../../test/histories';
import { assertConvergence, testDatabase } from '../../test/projection-harness';
import { deviceProjection } from './projection';

const db = testDatabase('device');
const topics = topicsFor('t');
beforeAll(() => db.setup());
afterAll(() => db.teardown());

describe('device projection on PostgreSQL', () => {
  test('convergence: any cross-topic interleaving, in any batch sizes, gives the read model of the pure fold', () =>
    assertConvergence(deviceProjection, db));

  test('a device created before its user gets the user fields when the user arrives, and keeps later changes', async () => {
    const names = {
      user: topics.user.events,
      device: topics.device.events,
      appInstall: topics.appInstall.events,
      order: topics.order.events,
    };
    const streams = buildStreams(
      { users: [['rename', 'suspend']], devices: [{ owner: 0, tier: 'basic', ops: ['start'] }], orders: [], apps: [], schedule: [0] },
      names,
      'late',
    );
    await db.truncate(deviceProjection);
    const [users, devices] = [streams.find((s) => s.topic === names.user)!, streams.find((s) => s.topic === names.device)!];
    await db.db.transaction((trx) => applyBatch(trx, deviceProjection, devices.events));
    expect(await db.db('devices').first()).toMatchObject({ status: 'running', username: null, user_status: null });
    await db.db.transaction((trx) => applyBatch(trx, deviceProjection, users.events));
    expect(await db.db('devices').first()).toMatchObject({
      status: 'running',
      username: 'user0-v0',
      email: 'user0@example.com',
      user_status: 'suspended',
      tenant_id: 'acme',
    });
  });
});
