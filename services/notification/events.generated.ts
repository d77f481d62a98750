// Generated from schemas/notification/*.avsc by `npm run schemas:types`. Do not edit.

import type { EventEnvelope } from '../../lib/event-log';

/** The user read the notification. */
export interface NotificationRead extends EventEnvelope {
  readonly type: 'notification.read';
  readonly userId: string;
}

/** A notification was issued to a user. */
export interface NotificationSent extends EventEnvelope {
  readonly type: 'notification.sent';
  readonly userId: string;
  readonly title: string;
  readonly content: string;
  /** Type of the event that caused it, e.g. order.paid. */
  readonly cause: string;
}

export type NotificationEvent = NotificationRead | NotificationSent;

export type NotificationEventType = NotificationEvent['type'];

export const notificationEventTypes = ['notification.read', 'notification.sent'] as const;

const notificationEventTypeSet: ReadonlySet<string> = new Set(notificationEventTypes);

/** Whether an event is one of these (a type guard: past it, the compiler knows the event's type and fields). */
export const isNotificationEvent = <T extends EventEnvelope>(e: T): e is T & NotificationEvent => notificationEventTypeSet.has(e.type);
