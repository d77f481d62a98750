import { deciderSpec } from '../../test/decider-spec';
import { draft } from '../../test/events';
import { deviceSpec, fen, newOrder } from '../../test/fixtures';
import { orderDecider } from './decider';

const spec = deciderSpec(orderDecider, 'order-1');
const plan = { planId: 'basic-month', planName: 'Basic (1 month)', amount: fen(2990), spec: { ...deviceSpec, androidVersion: '12' } };
const created = draft('order.created', plan);
const paid = draft('order.paid', { amount: fen(2990), paymentMethod: 'alipay', paymentRef: 'p-1' });
const cancelled = draft('order.cancelled', { reason: 'changed my mind' });
const create = { type: 'CreateOrder', ...newOrder('u1', plan) } as const;

describe('order decider', () => {
  describe('CreateOrder', () => {
    test('opens a plan purchase', () => spec.given().when(create).then(created));
    test('an amount must be positive', () =>
      spec
        .given()
        .when({ ...create, amount: fen(0) })
        .thenRejects(422, /positive/));
    test('an amount must be whole minor units', () =>
      spec
        .given()
        .when({ ...create, amount: fen(29.9) })
        .thenRejects(422, /whole number/));
    test('an existing order cannot be created again', () =>
      spec
        .given(created)
        .when(create)
        .thenRejects(409, /already exists/));
  });

  describe('PayOrder', () => {
    const pay = { type: 'PayOrder', amount: fen(2990), paymentMethod: 'alipay', paymentRef: 'p-1' } as const;
    test('a created order is paid', () => spec.given(created).when(pay).then(paid));
    test('an order is paid once', () =>
      spec
        .given(created, paid)
        .when(pay)
        .thenRejects(409, /already paid/));
    test('a cancelled order cannot be paid', () =>
      spec
        .given(created, cancelled)
        .when(pay)
        .thenRejects(409, /cancelled/));
    test('the payment must match the order amount', () =>
      spec
        .given(created)
        .when({ ...pay, amount: fen(100) })
        .thenRejects(422, /1\.00 CNY does not match the order amount 29\.90 CNY/));
    test('the payment must be in the order currency', () =>
      spec
        .given(created)
        .when({ ...pay, amount: { amount: 2990, currency: 'USD' } })
        .thenRejects(422, /does not match/));
    test('an unknown order is not found', () =>
      spec
        .given()
        .when(pay)
        .thenRejects(404, /not found/));
  });

  describe('CancelOrder', () => {
    test('an unpaid order is cancelled', () =>
      spec.given(created).when({ type: 'CancelOrder', reason: 'changed my mind' }).then(cancelled));
    test('a paid order is refunded, not cancelled', () =>
      spec
        .given(created, paid)
        .when({ type: 'CancelOrder', reason: 'x' })
        .thenRejects(409, /refund it instead/));
    test('a cancelled order cannot be cancelled again', () =>
      spec
        .given(created, cancelled)
        .when({ type: 'CancelOrder', reason: 'x' })
        .thenRejects(409, /already cancelled/));
  });

  describe('RefundOrder', () => {
    test('without an amount, refunds the whole payment', () =>
      spec
        .given(created, paid)
        .when({ type: 'RefundOrder', reason: 'device refused' })
        .then(draft('order.refunded', { amount: fen(2990), reason: 'device refused' })));
    test('a partial refund, then the rest', () =>
      spec
        .given(created, paid, draft('order.refunded', { amount: fen(990), reason: 'partial' }))
        .when({ type: 'RefundOrder', reason: 'rest' })
        .then(draft('order.refunded', { amount: fen(2000), reason: 'rest' })));
    test('never above the amount paid', () =>
      spec
        .given(created, paid)
        .when({ type: 'RefundOrder', amount: fen(3000), reason: 'x' })
        .thenRejects(422, /above the 29\.90 CNY left/));
    test('never above what is left after earlier refunds', () =>
      spec
        .given(created, paid, draft('order.refunded', { amount: fen(2000), reason: 'partial' }))
        .when({ type: 'RefundOrder', amount: fen(1000), reason: 'x' })
        .thenRejects(422, /above the 9\.90 CNY left/));
    test('only after payment', () =>
      spec
        .given(created)
        .when({ type: 'RefundOrder', reason: 'x' })
        .thenRejects(409, /no payment to refund/));
    test('not after a full refund', () =>
      spec
        .given(created, paid, draft('order.refunded', { amount: fen(2990), reason: 'all' }))
        .when({ type: 'RefundOrder', reason: 'x' })
        .thenRejects(409, /fully refunded/));
    test('a refund is positive', () =>
      spec
        .given(created, paid)
        .when({ type: 'RefundOrder', amount: fen(-5), reason: 'x' })
        .thenRejects(422, /positive/));
    test('a full refund makes the order refunded', () => {
      const { state } = spec.given(created, paid, draft('order.refunded', { amount: fen(2990), reason: 'all' }));
      expect(state).toMatchObject({ status: 'refunded', paid: 2990, refunded: 2990 });
    });
  });
});
