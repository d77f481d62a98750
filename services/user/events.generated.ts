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
  /** The username the user held (freed with the account). */
  readonly username: null | string;
  /** The email the user held (freed with the account). */
  readonly email: null | string;
}

/** The user's personal data was erased (PIPL Art. 47, GDPR Art. 17): every read model replaces their username, email and phone with a placeholder; money records keep their amounts and times. */
export interface UserErased extends EventEnvelope {
  readonly type: 'user.erased';
  /** Why the data was erased (the account closed, a request), free text without personal data. */
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
  /** The username before this change, when it changed (frees the old reservation). */
  readonly previousUsername: null | string;
  /** The email before this change, when it changed (frees the old reservation). */
  readonly previousEmail: null | string;
}

export type UserEvent = UserCreated | UserDeleted | UserErased | UserStatusChanged | UserUpdated;

export type UserEventType = UserEvent['type'];

export const userEventTypes = ['user.created', 'user.deleted', 'user.erased', 'user.status.changed', 'user.updated'] as const;

const userEventTypeSet: ReadonlySet<string> = new Set(userEventTypes);

/** Whether an event is one of these (a type guard: past it, the compiler knows the event's type and fields). */
export const isUserEvent = <T extends EventEnvelope>(e: T): e is T & UserEvent => userEventTypeSet.has(e.type);
