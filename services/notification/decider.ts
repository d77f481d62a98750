import { assertNever, type Decider, type Draft } from '../../lib/decider';
import { conflict, notFound } from '../../lib/errors';
import type { NotificationEvent, NotificationStatus } from './events';

export type NotificationCommand =
  | { readonly type: 'SendNotification'; readonly userId: string; readonly title: string; readonly content: string; readonly cause: string }
  | { readonly type: 'ReadNotification' };

export type NotificationState = { readonly status: 'none' } | { readonly status: NotificationStatus; readonly userId: string };

function decide(c: NotificationCommand, state: NotificationState): Draft<NotificationEvent>[] {
  switch (c.type) {
    case 'SendNotification':
      if (state.status !== 'none') throw conflict('notification already sent');
      return [{ type: 'notification.sent', userId: c.userId, title: c.title, content: c.content, cause: c.cause }];
    case 'ReadNotification':
      if (state.status === 'none') throw notFound('notification not found');
      if (state.status === 'read') throw conflict('notification is already read');
      return [{ type: 'notification.read', userId: state.userId }];
    default:
      return assertNever(c);
  }
}

function evolve(state: NotificationState, e: NotificationEvent): NotificationState {
  switch (e.type) {
    case 'notification.sent':
      return { status: 'unread', userId: e.userId };
    case 'notification.read':
      return state.status === 'none' ? state : { ...state, status: 'read' };
    default:
      return assertNever(e);
  }
}

export const notificationDecider: Decider<NotificationCommand, NotificationEvent, NotificationState> = {
  initialState: { status: 'none' },
  commands: { SendNotification: true, ReadNotification: true },
  decide,
  evolve,
};

/** Whose notification it is: a `user` may command only their own (checked by the writer, lib/command-processor.ts). */
export const notificationOwner = (state: NotificationState): string | null => (state.status === 'none' ? null : state.userId);
