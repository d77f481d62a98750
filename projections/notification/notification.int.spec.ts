import { randomUUID } from 'node:crypto';
import { applyBatch, memoryStore } from '../../lib/projection';
import type { AnyEvent } from '../../lib/event-log';
import { testDatabase, readModel } from '../../test/projection-harness';
import { notificationProjection } from './projection';

const db = testDatabase('notification');
beforeAll(() => db.setup());
afterAll(() => db.teardown());

const meta = (id: string, v: number, at: number) => ({
  eventId: randomUUID(),
  aggregateId: id,
  aggregateVersion: v,
  occurredAt: at,
  correlationId: 'c',
  causationId: 'cause-1',
  tenantId: 'acme',
});

describe('notification projection on PostgreSQL', () => {
  test('sent, then read; replaying a batch changes nothing; equals the pure fold', async () => {
    const events: AnyEvent[] = [
      {
        ...meta('n1', 1, 1000),
        type: 'notification.sent',
        userId: 'u1',
        title: '欢迎加入',
        content: '欢迎使用云手机平台！',
        cause: 'user.created',
      },
      {
        ...meta('n2', 1, 2000),
        type: 'notification.sent',
        userId: 'u1',
        title: '支付成功',
        content: '您的订单已支付成功，金额：¥29.90',
        cause: 'order.paid',
      },
      { ...meta('n1', 2, 3000), type: 'notification.read', userId: 'u1' },
    ];
    await db.truncate(notificationProjection);
    await db.db.transaction((trx) => applyBatch(trx, notificationProjection, events));
    await db.db.transaction((trx) => applyBatch(trx, notificationProjection, events.slice(2)));
    const ref = memoryStore(notificationProjection);
    events.forEach((e) => ref.apply(e));
    const model = await readModel(db.db, notificationProjection);
    expect(model.notifications).toEqual(ref.rows('notifications'));
    expect(model.notifications).toMatchObject([
      { notification_id: 'n1', read: true, read_at: new Date(3000), title: '欢迎加入', cause_event_id: 'cause-1' },
      { notification_id: 'n2', read: false, read_at: null, content: '您的订单已支付成功，金额：¥29.90' },
    ]);
  });
});
