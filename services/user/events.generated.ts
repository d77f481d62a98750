// Generated from schemas/user/*.avsc by `npm run schemas:types`. Do not edit.

import type { EventEnvelope } from '../../lib/event-log';

export type UserStatus = 'active' | 'suspended' | 'banned';

/** A user registered. */
export interface UserCreated extends EventEnvelope {
  readonly type: 'user.created';
  readonly username: string;
  readonly email: string;
  readonly phone: null | string;
  /** Status at registration. */
  readonly status: UserStatus;
}

/** The account was deleted. */
export interface UserDeleted extends EventEnvelope {
  readonly type: 'user.deleted';
  readonly reason: null | string;
}

/** The account status changed. */
export interface UserStatusChanged extends EventEnvelope {
  readonly type: 'user.status.changed';
  /** The new status. */
  readonly status: UserStatus;
  readonly previousStatus: UserStatus;
  readonly reason: null | string;
}

/** Profile fields changed; a null field is unchanged. */
export interface UserUpdated extends EventEnvelope {
  readonly type: 'user.updated';
  readonly username: null | string;
  readonly email: null | string;
  readonly phone: null | string;
}

export type UserEvent = UserCreated | UserDeleted | UserStatusChanged | UserUpdated;

export type UserEventType = UserEvent['type'];

export const userEventTypes = ['user.created', 'user.deleted', 'user.status.changed', 'user.updated'] as const;
