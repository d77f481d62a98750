import { randomUUID } from 'node:crypto';
import type { Draft } from '../lib/decider';
import type { AnyEvent, EventEnvelope } from '../lib/event-log';
import type { PlatformEvents } from '../services/events';
import { fen, newDevice, newOrder } from './fixtures';

/**
 * Events for tests, typed by the types generated from schemas/ (services/<aggregate>/events.ts): every event type
 * has a draft with plain values (user `u1`, device `d1`, the usual spec, ¥29.90), and a test overrides the fields
 * it is about. `draft` gives what a decider returns (no metadata: deciderSpec's given/then); `event` the whole
 * event with its metadata, as the log holds it.
 *
 *   spec.given(draft('device.created'), draft('device.started')).when({ type: 'StopDevice', reason: 'user' })
 *     .then(draft('device.stopped', { reason: 'user' }));
 *   await eventLog.append(producer, topic, [event('user.created', { aggregateId: id, tenantId: 'acme' })]);
 */
export type PlatformEvent = PlatformEvents[keyof PlatformEvents];
export type EventType = PlatformEvent['type'];
export type EventOf<T extends EventType> = Extract<PlatformEvent, { readonly type: T }>;

/** One draft per event type: the compiler holds the list against the generated union and each draft against its type. */
const drafts: { readonly [T in EventType]: Draft<EventOf<T>> } = {
  'user.created': { type: 'user.created', username: 'alice', email: 'alice@example.com', phone: null, status: 'active' },
  'user.updated': { type: 'user.updated', username: null, email: null, phone: null, previousUsername: null, previousEmail: null },
  'user.status.changed': { type: 'user.status.changed', status: 'suspended', previousStatus: 'active', reason: null },
  'user.deleted': { type: 'user.deleted', reason: null, username: 'alice', email: 'alice@example.com' },
  'user.erased': { type: 'user.erased', reason: null },
  'device.created': { type: 'device.created', ...newDevice('u1'), orderId: null },
  'device.started': { type: 'device.started', userId: 'u1' },
  'device.stopped': { type: 'device.stopped', userId: 'u1', reason: null },
  'device.updated': { type: 'device.updated', userId: 'u1', name: null, spec: null },
  'device.deleted': { type: 'device.deleted', userId: 'u1', reason: null },
  'order.created': { type: 'order.created', ...newOrder('u1') },
  'order.paid': { type: 'order.paid', userId: 'u1', amount: fen(2990), paymentMethod: 'alipay', paymentRef: null },
  'order.cancelled': { type: 'order.cancelled', userId: 'u1', reason: 'changed my mind' },
  'order.refunded': { type: 'order.refunded', userId: 'u1', amount: fen(2990), reason: 'refund' },
  'app.install.requested': { type: 'app.install.requested', userId: 'u1', deviceId: 'd1', appId: 'com.tencent.mm', appVersion: null },
  'app.install.completed': { type: 'app.install.completed', userId: 'u1', deviceId: 'd1', appId: 'com.tencent.mm' },
  'app.install.failed': {
    type: 'app.install.failed',
    userId: 'u1',
    deviceId: 'd1',
    appId: 'com.tencent.mm',
    reason: 'device is not running',
  },
  'notification.sent': {
    type: 'notification.sent',
    userId: 'u1',
    title: '欢迎加入',
    content: '欢迎使用云手机平台！',
    cause: 'user.created',
  },
  'notification.read': { type: 'notification.read', userId: 'u1' },
  'reservation.claimed': { type: 'reservation.claimed', ownerId: 'u1', kind: 'username', value: 'alice' },
  'reservation.released': { type: 'reservation.released', ownerId: 'u1' },
};

/** The event as a decider returns it (type and fields, no metadata), with these fields changed. */
export function draft<T extends EventType>(type: T, over: Partial<Draft<EventOf<T>>> = {}): Draft<EventOf<T>> {
  return { ...drafts[type], ...over };
}

/** The metadata of an event: a fresh id, version 1 of aggregate `agg-1` of tenant `acme`, with these fields changed. */
export const envelope = (over: Partial<Omit<EventEnvelope, 'type'>> = {}): Omit<EventEnvelope, 'type'> => ({
  eventId: randomUUID(),
  aggregateId: 'agg-1',
  aggregateVersion: 1,
  occurredAt: Date.UTC(2026, 10, 25, 12, 0, 0),
  correlationId: 'c',
  causationId: null,
  tenantId: 'acme',
  ...over,
});

/** An event without its metadata: what the decider that wrote it returned. */
export function draftOf<E extends EventEnvelope>(e: E): Draft<E> {
  const {
    eventId: _i,
    aggregateId: _a,
    aggregateVersion: _v,
    occurredAt: _o,
    correlationId: _c,
    causationId: _ca,
    tenantId: _t,
    ...rest
  } = e;
  return rest as unknown as Draft<E>;
}

/** The whole event, metadata (`envelope`) and fields (`draft`), with these fields of either changed. */
export function event<T extends EventType>(type: T, over: Partial<EventOf<T>> = {}): EventOf<T> & AnyEvent {
  const { eventId, ...meta } = envelope();
  const fields: object = drafts[type];
  // Schema order: the id and type first, then the rest of the metadata, then the fields.
  return { eventId, type, ...meta, ...fields, ...over } as unknown as EventOf<T> & AnyEvent;
}
