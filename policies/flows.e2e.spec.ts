import type { Db } from '../lib/db';
import { ACTIONS } from '../lib/saga';
import { startTestPlatform, type HttpResult } from '../test/platform';
import { waitFor } from '../test/support';
import { deviceIdForOrder } from './purchase-plan/saga';

let platform: Awaited<ReturnType<typeof startTestPlatform>>;
let db: Db;
beforeAll(async () => {
  platform = await startTestPlatform(1, {
    readSide: true,
    sagas: { paymentTimeoutMs: 2500, deviceQuota: 2, installDelayMs: 300, tickMs: 100 },
  });
  db = platform.db!;
  T = platform.bearer('ops', 'acme', 'tenant_admin');
});
afterAll(() => platform?.stop());

/** The commands of these flows are sent by acme's tenant admin. */
let T: Record<string, string>;
const fen = (amount: number) => ({ amount, currency: 'CNY' });
const spec = { cpuCores: 4, memoryMb: 8192, storageGb: 64, androidVersion: '13' };
const plan = (userId: string) => ({
  userId,
  planId: 'std-month',
  planName: 'Standard (1 month)',
  amount: fen(4990),
  spec,
  tier: 'standard',
  region: 'cn-east',
});
const api = (method: string, path: string, body?: unknown): Promise<HttpResult> => platform.http[0]!(method, path, body, T);
const ok = async (method: string, path: string, body?: unknown) => {
  const r = await api(method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; version: number };
};
const row = (table: string, where: Record<string, unknown>, what: string, test: (r: Record<string, unknown>) => boolean = () => true) =>
  waitFor(
    async () => {
      const r = (await db(table).where(where).first()) as Record<string, unknown> | undefined;
      return r && test(r) ? r : undefined;
    },
    { what, timeoutMs: 30_000, intervalMs: 100 },
  );
const notices = async (userId: string) =>
  (await db('notifications').where({ user_id: userId }).orderBy('sent_at')).map((n) => `${n.title}: ${n.content}`);

describe('purchase-plan saga', () => {
  test('a paid order allocates a device with the plan’s spec and the order id; the user sees it with their name', async () => {
    const user = await ok('POST', '/users', { username: 'mei', email: 'mei@example.com' });
    const order = await ok('POST', '/orders', plan(user.id));
    await ok('POST', `/orders/${order.id}/pay`, { amount: fen(4990), paymentMethod: 'wechat' });
    const device = await row('devices', { order_id: order.id }, 'the allocated device', (r) => r.username === 'mei');
    expect(device).toMatchObject({
      device_id: deviceIdForOrder(order.id),
      user_id: user.id,
      name: 'Standard (1 month)',
      tier: 'standard',
      spec,
      status: 'created',
      tenant_id: 'acme',
    });
    await row(
      ACTIONS,
      { saga: 'purchase-plan', aggregate_id: order.id, command_type: 'CancelOrder' },
      'the payment deadline',
      (r) => r.status === 'cancelled',
    );
    await waitFor(async () => ((await notices(user.id)).length >= 3 ? true : undefined), {
      what: 'three notifications',
      timeoutMs: 30_000,
    });
    expect(await notices(user.id)).toEqual([
      '欢迎加入: 欢迎使用云手机平台！',
      '支付成功: 您的订单已支付成功，金额：¥49.90',
      '云手机已就绪: 您的云手机「Standard (1 month)」已分配成功',
    ]);
  });

  test('an order still unpaid at the deadline is cancelled for payment timeout', async () => {
    const user = await ok('POST', '/users', { username: 'tao', email: 'tao@example.com' });
    const order = await ok('POST', '/orders', plan(user.id));
    const cancelled = await row('orders', { order_id: order.id }, 'the order to be cancelled', (r) => r.status === 'cancelled');
    expect(cancelled).toMatchObject({ cancel_reason: 'payment timeout', paid_amount: 0 });
    expect(await api('POST', `/orders/${order.id}/pay`, { amount: fen(4990), paymentMethod: 'alipay' })).toMatchObject({ status: 409 });
  });

  test('a refused allocation is refunded in full with the reason: suspended user, then the device quota', async () => {
    const user = await ok('POST', '/users', { username: 'jun', email: 'jun@example.com' });
    await ok('POST', `/users/${user.id}/status`, { status: 'suspended', reason: 'unpaid bills' });
    const order = await ok('POST', '/orders', plan(user.id));
    await row('purchase_users', { user_id: user.id }, 'the saga to know the user is suspended', (r) => r.status === 'suspended');
    await ok('POST', `/orders/${order.id}/pay`, { amount: fen(4990), paymentMethod: 'card' });
    expect(await row('orders', { order_id: order.id }, 'the refund', (r) => r.status === 'refunded')).toMatchObject({
      refunded_amount: 4990,
    });
    expect(await db('devices').where({ order_id: order.id })).toEqual([]);

    const rich = await ok('POST', '/users', { username: 'bobo', email: 'bobo@example.com' });
    await row('purchase_users', { user_id: rich.id }, 'the saga to know the user', (r) => r.status === 'active');
    const results: string[] = [];
    for (let i = 0; i < 3; i++) {
      const o = await ok('POST', '/orders', plan(rich.id));
      await ok('POST', `/orders/${o.id}/pay`, { amount: fen(4990), paymentMethod: 'alipay' });
      const settled = await row('purchase_orders', { order_id: o.id }, 'the saga decision', (r) => r.status !== 'awaiting_payment');
      // A refused order may already be refunded by the time it is read: its refusal stays on the row.
      results.push(String(settled.refusal ?? settled.status));
    }
    expect(results).toEqual(['allocating', 'allocating', 'device quota of 2 reached']);
    await waitFor(async () => ((await notices(rich.id)).some((n) => n.startsWith('退款成功')) ? true : undefined), {
      what: 'the refund notice',
    });
  });
});

describe('user lifecycle, device agent, notifications', () => {
  test('suspending a user stops their running devices; deleting the user deletes all of them', async () => {
    const user = await ok('POST', '/users', { username: 'ling', email: 'ling@example.com' });
    const d1 = await ok('POST', '/devices', { userId: user.id, name: 'a', spec, tier: 'basic', region: 'cn-east' });
    const d2 = await ok('POST', '/devices', { userId: user.id, name: 'b', spec, tier: 'basic', region: 'cn-east' });
    await ok('POST', `/devices/${d1.id}/start`, {});
    await row('lifecycle_devices', { device_id: d1.id }, 'the policy to see the device running', (r) => r.status === 'running');
    await row('lifecycle_devices', { device_id: d2.id }, 'the policy to see the second device');
    await ok('POST', `/users/${user.id}/status`, { status: 'banned', reason: 'abuse' });
    await row('devices', { device_id: d1.id }, 'the running device to stop', (r) => r.status === 'stopped');
    expect(await db('devices').where({ device_id: d2.id }).first()).toMatchObject({ status: 'created', user_status: 'banned' });
    await ok('DELETE', `/users/${user.id}`, {});
    for (const d of [d1, d2]) await row('devices', { device_id: d.id }, 'the devices to be deleted', (r) => r.status === 'deleted');
  });

  test('an install completes on a running device and fails with the reason on a stopped one, a missing one or another user’s', async () => {
    const user = await ok('POST', '/users', { username: 'wen', email: 'wen@example.com' });
    const running = await ok('POST', '/devices', { userId: user.id, name: 'r', spec, tier: 'basic', region: 'cn-east' });
    const idle = await ok('POST', '/devices', { userId: user.id, name: 'i', spec, tier: 'basic', region: 'cn-east' });
    await ok('POST', `/devices/${running.id}/start`, {});
    await row('agent_devices', { device_id: running.id }, 'the agent to see the device running', (r) => r.status === 'running');
    const good = await ok('POST', '/app-installs', { userId: user.id, deviceId: running.id, appId: 'com.tencent.mm' });
    const bad = await ok('POST', '/app-installs', { userId: user.id, deviceId: idle.id, appId: 'com.tencent.mm' });
    const missing = await ok('POST', '/app-installs', { userId: user.id, deviceId: 'no-such-device', appId: 'com.tencent.mm' });
    const other = await ok('POST', '/users', { username: 'wen-other', email: 'wen-other@example.com' });
    const foreign = await ok('POST', '/app-installs', { userId: other.id, deviceId: running.id, appId: 'com.tencent.mm' });
    expect(await row('device_apps', { install_id: good.id }, 'the install', (r) => r.status !== 'requested')).toMatchObject({
      status: 'installed',
    });
    expect(await row('device_apps', { install_id: bad.id }, 'the install', (r) => r.status !== 'requested')).toMatchObject({
      status: 'failed',
      failure_reason: 'device is not running',
    });
    expect(await row('device_apps', { install_id: missing.id }, 'the install', (r) => r.status !== 'requested')).toMatchObject({
      status: 'failed',
      failure_reason: 'device not found',
    });
    expect(await row('device_apps', { install_id: foreign.id }, 'the install', (r) => r.status !== 'requested')).toMatchObject({
      status: 'failed',
      failure_reason: 'device not found',
    });
    // The device's user does not see the other user's attempt among its apps.
    const token = platform.bearer(user.id, 'acme');
    const detail = await platform.http[0]!('GET', `/devices/${running.id}`, undefined, token);
    expect((detail.body.apps as Array<{ installId: string }>).map((x) => x.installId)).toEqual([good.id]);
  });

  test('redelivery: actions sent again and events delivered again to the notification service produce nothing new', async () => {
    const count = async (topic: string) => (await platform.it.readAll(topic)).length;
    const topics = platform.topics;
    const before = {
      device: await count(topics.device.events),
      order: await count(topics.order.events),
      notification: await count(topics.notification.events),
    };
    // Every action as if never sent: the dispatcher sends them all again, with the same command ids.
    await db(ACTIONS).whereIn('status', ['done', 'rejected']).update({ status: 'pending' });
    await platform.policies!.dispatcher.runDue();
    // The notification service's consumer group rewound: every event is delivered to it a second time.
    const admin = await platform.it.admin();
    const group = `${topics.namespace}.policy.notifications`;
    const sources = [topics.user.events, topics.order.events, topics.device.events, topics.appInstall.events];
    await platform.restartPolicies(async () => {
      for (const topic of sources) await admin.resetOffsets({ groupId: group, topic, earliest: true });
    });
    // Done when the group's committed offset is past the last event of every partition (a transaction
    // marker may follow it: the high watermark itself is not reached).
    const lastEvent = new Map<string, number>();
    for (const topic of sources) {
      for (const r of await platform.it.readAll(topic)) {
        const k = `${topic}/${r.partition}`;
        lastEvent.set(k, Math.max(lastEvent.get(k) ?? -1, Number(r.offset)));
      }
    }
    await waitFor(
      async () => {
        for (const topic of sources) {
          const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
          for (const p of committed!.partitions) {
            const last = lastEvent.get(`${topic}/${p.partition}`);
            if (last !== undefined && Number(p.offset) <= last) return undefined;
          }
        }
        return true;
      },
      { what: 'the notification service to go through every event again', timeoutMs: 60_000, intervalMs: 200 },
    );
    expect({
      device: await count(topics.device.events),
      order: await count(topics.order.events),
      notification: await count(topics.notification.events),
    }).toEqual(before);
  });
});
