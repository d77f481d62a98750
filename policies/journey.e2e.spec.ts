import type { Db } from '../lib/db';
import { startTestPlatform, type HttpResult } from '../test/platform';
import { waitFor } from '../test/support';

/**
 * A user's whole journey through the HTTP command API, with every reaction of DESIGN.md §2 running; then every
 * read model holds exactly what the user would expect, field by field.
 */
let platform: Awaited<ReturnType<typeof startTestPlatform>>;
let db: Db;
beforeAll(async () => {
  platform = await startTestPlatform(1, {
    readSide: true,
    sagas: { paymentTimeoutMs: 60_000, deviceQuota: 5, installDelayMs: 200, tickMs: 100 },
  });
  db = platform.db!;
});
afterAll(() => platform?.stop());

const T = { 'X-Tenant-Id': 'journey' };
const fen = (amount: number) => ({ amount, currency: 'CNY' });
const spec = { cpuCores: 4, memoryMb: 8192, storageGb: 64, androidVersion: '13' };
const call = async (method: string, path: string, body?: unknown): Promise<{ id: string; version: number }> => {
  const r: HttpResult = await platform.http[0]!(method, path, body, T);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; version: number };
};
const until = <T>(what: string, probe: () => Promise<T | undefined>) => waitFor(probe, { what, timeoutMs: 30_000, intervalMs: 100 });

test('register, buy a plan, pay, use the device, rename, install an app, cancel an unpaid order, leave', async () => {
  const user = await call('POST', '/users', { username: 'xiaoming', email: 'xm@example.com', phone: '+86 139 0000 0001' });
  const order = await call('POST', '/orders', {
    userId: user.id,
    planId: 'std-month',
    planName: 'Standard',
    amount: fen(4990),
    spec,
    tier: 'standard',
    region: 'cn-east',
  });
  await call('POST', `/orders/${order.id}/pay`, { amount: fen(4990), paymentMethod: 'alipay', paymentRef: 'ali-42' });
  const device = await until(
    'the allocated device',
    async () => (await db('devices').where({ order_id: order.id }).first()) as { device_id: string } | undefined,
  );
  const deviceId = device.device_id;
  expect(await db('devices').where({ device_id: deviceId }).first()).toMatchObject({
    username: 'xiaoming',
    email: 'xm@example.com',
    status: 'created',
  });

  await call('POST', `/devices/${deviceId}/start`, {});
  await until('the agent to see the device running', async () =>
    (await db('agent_devices').where({ device_id: deviceId, status: 'running' }).first()) ? true : undefined,
  );
  const install = await call('POST', '/app-installs', { userId: user.id, deviceId, appId: 'com.tencent.mm' });
  await until('the install to complete', async () =>
    (await db('device_apps').where({ install_id: install.id, status: 'installed' }).first()) ? true : undefined,
  );
  await call('POST', `/devices/${deviceId}/stop`, { reason: 'night' });
  await call('PATCH', `/users/${user.id}`, { username: 'xiaoming2' });
  const second = await call('POST', '/orders', {
    userId: user.id,
    planId: 'basic-month',
    planName: 'Basic',
    amount: fen(1990),
    spec,
    tier: 'basic',
    region: 'cn-east',
  });
  await call('POST', `/orders/${second.id}/cancel`, { reason: 'changed my mind' });
  await call('DELETE', `/users/${user.id}`, { reason: 'leaving' });
  await until('the device to be deleted', async () =>
    (await db('devices').where({ device_id: deviceId, status: 'deleted' }).first()) ? true : undefined,
  );
  await until('every notification', async () => ((await db('notifications').where({ user_id: user.id })).length >= 5 ? true : undefined));

  // Devices: the user's fields follow the rename and the deletion; the app is installed.
  expect(await db('devices').where({ user_id: user.id })).toEqual([
    expect.objectContaining({
      device_id: deviceId,
      tenant_id: 'journey',
      order_id: order.id,
      name: 'Standard',
      spec,
      tier: 'standard',
      region: 'cn-east',
      status: 'deleted',
      version: 4,
      username: 'xiaoming2',
      email: 'xm@example.com',
      phone: '+86 139 0000 0001',
      user_status: 'deleted',
    }),
  ]);
  expect(await db('device_apps').where({ device_id: deviceId })).toEqual([
    expect.objectContaining({
      app_id: 'com.tencent.mm',
      status: 'installed',
      installed_at: expect.any(Date),
      failed_at: null,
      user_id: user.id,
    }),
  ]);

  // Billing: one closed session (started → stopped), billed at the standard rate per started minute.
  const sessions = await db('metering_sessions').where({ device_id: deviceId });
  expect(sessions).toHaveLength(1);
  const s = sessions[0]!;
  const ms = s.stopped_at.getTime() - s.started_at.getTime();
  expect(s).toMatchObject({
    status: 'closed',
    close_reason: 'stopped',
    tier: 'standard',
    rate_fen_per_minute: 10,
    username: 'xiaoming2',
    user_status: 'deleted',
  });
  expect([s.duration_seconds, s.billed_minutes, s.cost_fen]).toEqual([
    Math.floor(ms / 1000),
    Math.ceil(ms / 60_000),
    10 * Math.ceil(ms / 60_000),
  ]);
  const day = s.started_at.toISOString().slice(0, 10);
  expect(await db('usage_daily').where({ user_id: user.id })).toEqual([
    {
      usage_id: `${user.id}/${day}`,
      tenant_id: 'journey',
      user_id: user.id,
      day,
      sessions: 1,
      seconds: s.duration_seconds,
      cost_fen: s.cost_fen,
    },
  ]);
  expect(await db('billing_anomalies').where({ user_id: user.id })).toEqual([]);

  // Orders: the paid plan and the cancelled one, with the user's current fields.
  const orders = await db('orders').where({ user_id: user.id }).orderBy('created_at');
  expect(orders).toEqual([
    expect.objectContaining({
      order_id: order.id,
      status: 'paid',
      amount: 4990,
      paid_amount: 4990,
      refunded_amount: 0,
      payment_method: 'alipay',
      payment_ref: 'ali-42',
      username: 'xiaoming2',
      user_status: 'deleted',
    }),
    expect.objectContaining({
      order_id: second.id,
      status: 'cancelled',
      amount: 1990,
      paid_amount: 0,
      cancel_reason: 'changed my mind',
      username: 'xiaoming2',
    }),
  ]);

  // Notifications, in order, each caused by its event.
  const notes = await db('notifications').where({ user_id: user.id }).orderBy('sent_at');
  expect(notes.map((n) => `${n.cause}: ${n.title} / ${n.content}`)).toEqual([
    'user.created: 欢迎加入 / 欢迎使用云手机平台！',
    'order.paid: 支付成功 / 您的订单已支付成功，金额：¥49.90',
    'device.created: 云手机已就绪 / 您的云手机「Standard」已分配成功',
    'app.install.completed: 应用安装成功 / 应用 com.tencent.mm 已安装完成',
    'order.cancelled: 订单已取消 / 您的订单已取消，原因：changed my mind',
  ]);
  expect(notes.every((n) => n.read === false && n.cause_event_id !== null && n.tenant_id === 'journey')).toBe(true);
});
