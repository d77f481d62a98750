import type { AnyEvent } from '../../lib/event-log';
import { memoryStore } from '../../lib/projection';
import { billingProjection } from './projection';

/** Given these events, then these billing rows — the pure fold, no I/O. */
let seq = 0;
const T0 = Date.UTC(2026, 10, 25, 23, 50, 0);
const ev = (type: string, aggregateId: string, version: number, atMin: number, fields: Record<string, unknown> = {}): AnyEvent => ({
  eventId: `e${++seq}`,
  type,
  aggregateId,
  aggregateVersion: version,
  occurredAt: T0 + atMin * 60_000,
  correlationId: 'c',
  causationId: null,
  tenantId: 'acme',
  ...fields,
});
const spec = { cpuCores: 2, memoryMb: 4096, storageGb: 32, androidVersion: '13' };
const fold = (...events: AnyEvent[]) => {
  const store = memoryStore(billingProjection);
  events.forEach((e) => store.apply(e));
  return store;
};
const created = (tier = 'standard') =>
  ev('device.created', 'd1', 1, 0, { userId: 'u1', name: 'p', spec, tier, region: 'cn-east', orderId: null });

describe('billing: metering sessions', () => {
  test('start opens a session, stop closes it: whole seconds, started minutes, integer fen at the tier rate', () => {
    const store = fold(
      ev('user.created', 'u1', 1, 0, { username: 'lin', email: 'lin@x.io', phone: null, status: 'active' }),
      created('standard'),
      ev('device.started', 'd1', 2, 1, { userId: 'u1' }),
      { ...ev('device.stopped', 'd1', 3, 0, { userId: 'u1', reason: null }), occurredAt: T0 + 60_000 + 125_500 },
    );
    expect(store.rows('metering_sessions')).toEqual([
      expect.objectContaining({
        status: 'closed',
        duration_seconds: 125,
        billed_minutes: 3,
        cost_fen: 30,
        rate_fen_per_minute: 10,
        close_reason: 'stopped',
        username: 'lin',
      }),
    ]);
    expect(store.rows('usage_daily')).toEqual([
      { usage_id: 'u1/2026-11-25', tenant_id: 'acme', user_id: 'u1', day: '2026-11-25', sessions: 1, seconds: 125, cost_fen: 30 },
    ]);
  });

  test('a running device that is deleted is billed up to the deletion', () => {
    const store = fold(
      created('premium'),
      ev('device.started', 'd1', 2, 0, { userId: 'u1' }),
      ev('device.deleted', 'd1', 3, 10, { userId: 'u1', reason: null }),
    );
    expect(store.rows('metering_sessions')).toEqual([
      expect.objectContaining({ close_reason: 'deleted', billed_minutes: 10, cost_fen: 200 }),
    ]);
    expect(store.rows('billing_devices')).toEqual([expect.objectContaining({ status: 'deleted', open_session_id: null })]);
  });

  test('an open session shows as open; the day it started is the day it counts on', () => {
    const store = fold(created(), ev('device.started', 'd1', 2, 5, { userId: 'u1' }));
    expect(store.rows('metering_sessions')).toEqual([expect.objectContaining({ status: 'open', stopped_at: null, cost_fen: null })]);
    expect(store.rows('usage_daily')).toEqual([]);
  });

  test('anomalies are recorded, not crashed on: a stop without a start, a second start while running', () => {
    const store = fold(
      created(),
      ev('device.stopped', 'd1', 2, 1, { userId: 'u1', reason: null }),
      ev('device.started', 'd1', 3, 2, { userId: 'u1' }),
      ev('device.started', 'd1', 4, 3, { userId: 'u1' }),
    );
    expect(
      store
        .rows('billing_anomalies')
        .map((a) => a.kind)
        .sort(),
    ).toEqual(['start_while_running', 'stop_without_start']);
    expect(store.rows('metering_sessions')).toHaveLength(1);
  });

  test('two sessions the same day add up', () => {
    const store = fold(
      created('basic'),
      ev('device.started', 'd1', 2, 0, { userId: 'u1' }),
      ev('device.stopped', 'd1', 3, 2, { userId: 'u1', reason: null }),
      ev('device.started', 'd1', 4, 3, { userId: 'u1' }),
      ev('device.stopped', 'd1', 5, 4, { userId: 'u1', reason: null }),
    );
    expect(store.rows('usage_daily')).toEqual([expect.objectContaining({ sessions: 2, seconds: 180, cost_fen: 15 })]);
  });
});

describe('billing: orders', () => {
  test('amounts stay integer fen; refunds accumulate; the user fields follow the user', () => {
    const store = fold(
      ev('order.created', 'o1', 1, 0, {
        userId: 'u1',
        planId: 'p',
        planName: 'Plan',
        amount: { amount: 2990, currency: 'CNY' },
        spec,
        tier: 'basic',
        region: 'cn-east',
      }),
      ev('order.paid', 'o1', 2, 1, { userId: 'u1', amount: { amount: 2990, currency: 'CNY' }, paymentMethod: 'alipay', paymentRef: null }),
      ev('order.refunded', 'o1', 3, 2, { userId: 'u1', amount: { amount: 990, currency: 'CNY' }, reason: 'part' }),
      ev('user.created', 'u1', 1, 3, { username: 'lin', email: 'lin@x.io', phone: null, status: 'active' }),
    );
    expect(store.rows('orders')).toEqual([
      expect.objectContaining({
        amount: 2990,
        paid_amount: 2990,
        refunded_amount: 990,
        status: 'partially_refunded',
        username: 'lin',
        user_status: 'active',
      }),
    ]);
  });
});
