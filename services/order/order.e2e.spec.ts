import { deviceSpec, fen, newOrder } from '../../test/fixtures';
import { startTestPlatform, withHeaders, type Call, type TestPlatform } from '../../test/platform';

let platform: TestPlatform;
/** Called by a tenant admin of `default` (refunds, install reports and notices are theirs; services/auth.e2e.spec.ts). */
let api: Call;
/** The user the orders, installs and notices are for (they name a user of the tenant). */
let user: string;
beforeAll(async () => {
  platform = await startTestPlatform(1);
  api = withHeaders(platform.http[0]!, platform.tenantAdmin('default'));
  user = (await api('POST', '/users', { username: 'omar', email: 'omar@example.com' })).body.id as string;
});
afterAll(() => platform?.stop());

const plan = () =>
  newOrder(user, { planId: 'basic-month', planName: 'Basic (1 month)', amount: fen(2990), spec: { ...deviceSpec, androidVersion: '12' } });

describe('order command API', () => {
  test('open, pay, partly refund, refund the rest; money stays integer fen in the events', async () => {
    const id = (await api('POST', '/orders', plan())).body.id as string;
    expect(await api('POST', `/orders/${id}/pay`, { amount: fen(100), paymentMethod: 'alipay' })).toMatchObject({
      status: 422,
      body: { detail: 'payment of 1.00 CNY does not match the order amount 29.90 CNY' },
    });
    expect(await api('POST', `/orders/${id}/pay`, { amount: fen(2990), paymentMethod: 'alipay', paymentRef: 'ali-1' })).toMatchObject({
      status: 200,
      body: { version: 2 },
    });
    expect(await api('POST', `/orders/${id}/pay`, { amount: fen(2990), paymentMethod: 'alipay' })).toMatchObject({
      status: 409,
      body: { detail: 'order is already paid' },
    });
    expect(await api('POST', `/orders/${id}/cancel`, { reason: 'too late' })).toMatchObject({ status: 409 });
    expect(await api('POST', `/orders/${id}/refund`, { amount: fen(3000), reason: 'x' })).toMatchObject({
      status: 422,
      body: { refundable: fen(2990) },
    });
    expect(await api('POST', `/orders/${id}/refund`, { amount: fen(990), reason: 'partial' })).toMatchObject({
      status: 200,
      body: { version: 3 },
    });
    expect(await api('POST', `/orders/${id}/refund`, { reason: 'the rest' })).toMatchObject({ status: 200, body: { version: 4 } });
    expect(await api('POST', `/orders/${id}/refund`, { reason: 'again' })).toMatchObject({
      status: 409,
      body: { detail: 'order is already fully refunded' },
    });

    const events = (await platform.it.readAll(platform.topics.order.events)).filter((r) => r.event.aggregateId === id).map((r) => r.event);
    expect(events.map((e) => [e.type, (e as { amount?: unknown }).amount])).toEqual([
      ['order.created', fen(2990)],
      ['order.paid', fen(2990)],
      ['order.refunded', fen(990)],
      ['order.refunded', fen(2000)],
    ]);
  });

  test('an unpaid order is cancelled and then cannot be paid', async () => {
    const id = (await api('POST', '/orders', plan())).body.id as string;
    expect(await api('POST', `/orders/${id}/cancel`, { reason: 'changed my mind' })).toMatchObject({ status: 200 });
    expect(await api('POST', `/orders/${id}/pay`, { amount: fen(2990), paymentMethod: 'wechat' })).toMatchObject({
      status: 409,
      body: { detail: 'order is cancelled' },
    });
    expect(await api('POST', `/orders/${id}/refund`, { reason: 'x' })).toMatchObject({ status: 409 });
  });
});

describe('app install and notification command APIs', () => {
  test('an install is requested, then completes once', async () => {
    const req = await api('POST', '/app-installs', { userId: user, deviceId: 'd-1', appId: 'com.tencent.mm' });
    expect(req).toMatchObject({ status: 201, body: { version: 1 } });
    const id = req.body.id as string;
    expect(await api('POST', `/app-installs/${id}/complete`, {})).toMatchObject({ status: 200, body: { version: 2 } });
    expect(await api('POST', `/app-installs/${id}/fail`, { reason: 'x' })).toMatchObject({
      status: 409,
      body: { detail: 'install is already installed' },
    });
    expect(await api('POST', '/app-installs/nope/complete', {})).toMatchObject({ status: 404 });
  });

  test('a notification is sent and read once', async () => {
    const sent = await api('POST', '/notifications', {
      userId: user,
      title: '欢迎加入',
      content: '欢迎使用云手机平台！',
      cause: 'user.created',
    });
    expect(sent.status).toBe(201);
    const id = sent.body.id as string;
    expect(await api('POST', `/notifications/${id}/read`, {})).toMatchObject({ status: 200, body: { version: 2 } });
    expect(await api('POST', `/notifications/${id}/read`, {})).toMatchObject({
      status: 409,
      body: { detail: 'notification is already read' },
    });
    const events = (await platform.it.readAll(platform.topics.notification.events)).filter((r) => r.event.aggregateId === id);
    expect(events[0]!.event).toMatchObject({ title: '欢迎加入', content: '欢迎使用云手机平台！' });
  });
});
