import { signToken } from '../lib/auth';
import { startTestPlatform, type HttpResult } from '../test/platform';
import { waitFor } from '../test/support';
import { ERASED } from '../services/user/events';

/**
 * A user's whole journey through the HTTP APIs only — commands in, query API out — with every reaction of
 * DESIGN.md §2 running; then every read model answers exactly what the user would expect, field by field.
 */
let platform: Awaited<ReturnType<typeof startTestPlatform>>;
beforeAll(async () => {
  platform = await startTestPlatform(1, {
    readSide: true,
    sagas: { paymentTimeoutMs: 60_000, deviceQuota: 5, installDelayMs: 200, tickMs: 100 },
  });
});
afterAll(() => platform?.stop());

type Json = Record<string, unknown>;
const fen = (amount: number) => ({ amount, currency: 'CNY' });
const spec = { cpuCores: 4, memoryMb: 8192, storageGb: 64, androidVersion: '13' };
/** The user's own requests: the sign-up is open (tenant from X-Tenant-Id); after it, with the user's own token. */
let credentials: Record<string, string> = { 'X-Tenant-Id': 'journey' };
const command = async (method: string, path: string, body?: unknown): Promise<{ id: string; version: number }> => {
  const r: HttpResult = await platform.http[0]!(method, path, body, credentials);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; version: number };
};
/** The tenant's operator reads through the query API (the user is deleted at the end, their data stays). */
const read = async (path: string): Promise<Json> => {
  const token = signToken(platform.cfg.auth, { userId: 'operator', tenantId: 'journey', role: 'tenant_admin' });
  const r = await platform.http[0]!('GET', path, undefined, { Authorization: `Bearer ${token}` });
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};
const items = async (path: string) => (await read(path)).items as Json[];
const until = <T>(what: string, probe: () => Promise<T | undefined>) => waitFor(probe, { what, timeoutMs: 30_000, intervalMs: 100 });

test('register, buy a plan, pay, use the device, rename, install an app, cancel an unpaid order, leave', async () => {
  const user = await command('POST', '/users', { username: 'xiaoming', email: 'xm@example.com', phone: '+86 139 0000 0001' });
  credentials = platform.bearer(user.id, 'journey');
  const order = await command('POST', '/orders', {
    userId: user.id,
    planId: 'std-month',
    planName: 'Standard',
    amount: fen(4990),
    spec,
    tier: 'standard',
    region: 'cn-east',
  });
  await command('POST', `/orders/${order.id}/pay`, { amount: fen(4990), paymentMethod: 'alipay', paymentRef: 'ali-42' });
  const allocated = await until('the allocated device, with the user’s name', async () =>
    (await items(`/devices?userId=${user.id}`)).find((d) => d.orderId === order.id && (d.user as Json).username === 'xiaoming'),
  );
  const deviceId = allocated.id as string;

  await command('POST', `/devices/${deviceId}/start`, {});
  await until('the device to run', async () => ((await read(`/devices/${deviceId}`)).status === 'running' ? true : undefined));
  await command('POST', '/app-installs', { userId: user.id, deviceId, appId: 'com.tencent.mm' });
  await until('the install to complete', async () =>
    ((await read(`/devices/${deviceId}`)).apps as Json[]).some((a) => a.status === 'installed') ? true : undefined,
  );
  await command('POST', `/devices/${deviceId}/stop`, { reason: 'night' });
  await command('PATCH', `/users/${user.id}`, { username: 'xiaoming2' });
  const second = await command('POST', '/orders', {
    userId: user.id,
    planId: 'basic-month',
    planName: 'Basic',
    amount: fen(1990),
    spec,
    tier: 'basic',
    region: 'cn-east',
  });
  await command('POST', `/orders/${second.id}/cancel`, { reason: 'changed my mind' });
  await command('DELETE', `/users/${user.id}`, { reason: 'leaving' });
  await until('the device to be deleted', async () => ((await read(`/devices/${deviceId}`)).status === 'deleted' ? true : undefined));
  await until('every notification', async () => ((await items(`/notifications?userId=${user.id}`)).length >= 5 ? true : undefined));
  await until('the user fields to follow the deletion and erasure', async () =>
    (await read(`/users/${user.id}`)).username === ERASED ? true : undefined,
  );

  // Devices: the user's fields follow the deletion and the erasure of their personal data; the app is installed.
  expect(await read(`/devices/${deviceId}`)).toMatchObject({
    tenantId: 'journey',
    userId: user.id,
    orderId: order.id,
    name: 'Standard',
    spec,
    tier: 'standard',
    region: 'cn-east',
    status: 'deleted',
    version: 4,
    user: { username: ERASED, email: ERASED, phone: ERASED, status: 'deleted' },
    apps: [expect.objectContaining({ appId: 'com.tencent.mm', status: 'installed', failedAt: null, failureReason: null })],
  });
  expect(await read(`/users/${user.id}`)).toMatchObject({ username: ERASED, email: ERASED, status: 'deleted' });

  // Billing: one closed session (started → stopped), billed at the standard rate per started minute.
  const sessions = await items(`/billing/sessions?deviceId=${deviceId}`);
  expect(sessions).toHaveLength(1);
  const s = sessions[0]!;
  const ms = Date.parse(s.stoppedAt as string) - Date.parse(s.startedAt as string);
  expect(s).toMatchObject({
    status: 'closed',
    closeReason: 'stopped',
    tier: 'standard',
    rateFenPerMinute: 10,
    user: { username: ERASED, status: 'deleted' },
  });
  expect([s.durationSeconds, s.billedMinutes, s.cost]).toEqual([
    Math.floor(ms / 1000),
    Math.ceil(ms / 60_000),
    fen(10 * Math.ceil(ms / 60_000)),
  ]);
  const day = (s.startedAt as string).slice(0, 10);
  expect(await read(`/billing/usage?userId=${user.id}`)).toEqual({
    days: [{ userId: user.id, day, sessions: 1, seconds: s.durationSeconds, cost: s.cost }],
    totals: { sessions: 1, seconds: s.durationSeconds, cost: s.cost },
  });

  // Orders: the paid plan and the cancelled one, with the user's current fields.
  const orders = await items(`/orders?userId=${user.id}`);
  expect(orders.sort((a, b) => String(a.createdAt).localeCompare(String(b.createdAt)))).toEqual([
    expect.objectContaining({
      id: order.id,
      status: 'paid',
      amount: fen(4990),
      paid: fen(4990),
      refunded: fen(0),
      paymentMethod: 'alipay',
      paymentRef: 'ali-42',
      user: { username: ERASED, email: ERASED, status: 'deleted' },
    }),
    expect.objectContaining({ id: second.id, status: 'cancelled', amount: fen(1990), paid: fen(0), cancelReason: 'changed my mind' }),
  ]);

  // Notifications, each caused by its event.
  const notes = (await items(`/notifications?userId=${user.id}`)).sort((a, b) => String(a.sentAt).localeCompare(String(b.sentAt)));
  expect(notes.map((n) => `${n.cause}: ${n.title} / ${n.content}`)).toEqual([
    'user.created: 欢迎加入 / 欢迎使用云手机平台！',
    'order.paid: 支付成功 / 您的订单已支付成功，金额：¥49.90',
    'device.created: 云手机已就绪 / 您的云手机「Standard」已分配成功',
    'app.install.completed: 应用安装成功 / 应用 com.tencent.mm 已安装完成',
    'order.cancelled: 订单已取消 / 您的订单已取消，原因：changed my mind',
  ]);
  expect(notes.every((n) => n.read === false && typeof n.causeEventId === 'string')).toBe(true);
});
