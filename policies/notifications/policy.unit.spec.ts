import type { AnyEvent } from '../../lib/event-log';
import type { CommandReaction, Reaction } from '../../lib/policy';
import { topicsFor } from '../../lib/topics';
import { notificationReactions, yuan } from './policy';

const { react } = notificationReactions;

const meta = {
  eventId: 'e-1',
  aggregateId: 'agg-1',
  aggregateVersion: 1,
  occurredAt: 0,
  correlationId: 'c',
  causationId: null,
  tenantId: 't',
};
const ev = (type: string, fields: Record<string, unknown>): AnyEvent => ({ ...meta, type, ...fields });

describe('notification service', () => {
  test.each([
    [ev('user.created', { username: 'lin', email: 'e', phone: null, status: 'active' }), 'agg-1', '欢迎加入', '欢迎使用云手机平台！'],
    [
      ev('order.paid', { userId: 'u1', amount: { amount: 2990, currency: 'CNY' }, paymentMethod: 'alipay', paymentRef: null }),
      'u1',
      '支付成功',
      '您的订单已支付成功，金额：¥29.90',
    ],
    [
      ev('order.paid', { userId: 'u1', amount: { amount: 5, currency: 'CNY' }, paymentMethod: 'alipay', paymentRef: null }),
      'u1',
      '支付成功',
      '您的订单已支付成功，金额：¥0.05',
    ],
    [ev('order.cancelled', { userId: 'u1', reason: 'payment timeout' }), 'u1', '订单已取消', '您的订单已取消，原因：payment timeout'],
    [
      ev('order.refunded', { userId: 'u1', amount: { amount: 100000, currency: 'CNY' }, reason: 'x' }),
      'u1',
      '退款成功',
      '您的订单已退款，金额：¥1000.00，原因：x',
    ],
    [
      ev('device.created', { userId: 'u1', name: 'Basic', spec: {}, tier: 'basic', region: 'r', orderId: 'o' }),
      'u1',
      '云手机已就绪',
      '您的云手机「Basic」已分配成功',
    ],
    [
      ev('app.install.completed', { userId: 'u1', deviceId: 'd', appId: 'com.tencent.mm' }),
      'u1',
      '应用安装成功',
      '应用 com.tencent.mm 已安装完成',
    ],
    [
      ev('app.install.failed', { userId: 'u1', deviceId: 'd', appId: 'com.tencent.mm', reason: 'device is not running' }),
      'u1',
      '应用安装失败',
      '应用 com.tencent.mm 安装失败：device is not running',
    ],
    [
      ev('user.status.changed', { status: 'suspended', previousStatus: 'active', reason: null }),
      'agg-1',
      '账户状态变更',
      '您的账户状态已变更为：已暂停',
    ],
  ])('%#: %s', (event, userId, title, content) => {
    expect(react(event)).toEqual([
      {
        aggregate: 'notification',
        aggregateId: expect.any(String),
        type: 'SendNotification',
        payload: { userId, title, content, cause: event.type },
      },
    ]);
  });

  test('events that tell the user nothing give no notification', () => {
    expect(react(ev('device.started', { userId: 'u1' }))).toEqual([]);
    expect(react(ev('user.updated', { username: 'x' }))).toEqual([]);
  });

  test('it reads the topics of the aggregates it has reactions for', () => {
    const t = topicsFor('t');
    expect(notificationReactions.topics(t)).toEqual([t.user.events, t.order.events, t.device.events, t.appInstall.events]);
  });

  test('the notification id comes from the causing event: the same event always makes the same notification', () => {
    const e = ev('user.created', { username: 'lin', email: 'e', phone: null, status: 'active' });
    expect(react(e)).toEqual(react(e));
    expect(react(e)[0]).toMatchObject({ type: 'SendNotification', payload: { userId: 'agg-1', cause: 'user.created' } });
    const id = (r: Reaction[]) => (r[0] as CommandReaction).aggregateId;
    expect(id(react({ ...e, eventId: 'e-2' }))).not.toBe(id(react(e)));
  });

  test('yuan formats integer fen with two decimals', () => {
    expect([yuan(0), yuan(1), yuan(10), yuan(2990), yuan(123456)]).toEqual(['0.00', '0.01', '0.10', '29.90', '1234.56']);
  });
});
