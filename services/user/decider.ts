import { assertNever, conflict, notFound, type Decider, type Draft } from '../../lib/decider';
import type { UserEvent, UserStatus } from './events.generated';

export type { UserEvent, UserStatus } from './events.generated';

export type UserCommand =
  | { readonly type: 'RegisterUser'; readonly username: string; readonly email: string; readonly phone: string | null }
  | { readonly type: 'UpdateUser'; readonly username?: string; readonly email?: string; readonly phone?: string }
  | { readonly type: 'ChangeUserStatus'; readonly status: UserStatus; readonly reason: string | null }
  | { readonly type: 'DeleteUser'; readonly reason: string | null }
  /**
   * Appends nothing: the user exists and is not deleted. Sent before a command of another aggregate names the
   * user (a device, an order, an install, a notice for them), so that this writer decides whether the caller may
   * name the user — their tenant's, and for a `user` only themselves.
   */
  | { readonly type: 'CheckUser' };

interface Profile {
  readonly username: string;
  readonly email: string;
  readonly phone: string | null;
}
export type UserState =
  | { readonly status: 'none' }
  | ({ readonly status: UserStatus } & Profile)
  | ({ readonly status: 'deleted'; readonly lastStatus: UserStatus } & Profile);

type Live = Extract<UserState, { status: UserStatus }>;

function live(state: UserState): Live {
  if (state.status === 'none') throw notFound('user not found');
  if (state.status === 'deleted') throw conflict('user is deleted');
  return state;
}

function register(c: Extract<UserCommand, { type: 'RegisterUser' }>, state: UserState): Draft<UserEvent>[] {
  if (state.status !== 'none') throw conflict('user already exists');
  return [{ type: 'user.created', username: c.username, email: c.email, phone: c.phone, status: 'active' }];
}

function update(c: Extract<UserCommand, { type: 'UpdateUser' }>, state: UserState): Draft<UserEvent>[] {
  const user = live(state);
  // A null field in user.updated means "unchanged", so a phone can be changed but not cleared.
  const changed = (k: keyof Profile) => (c[k] !== undefined && c[k] !== user[k] ? c[k] : null);
  const username = changed('username');
  const email = changed('email');
  const phone = changed('phone');
  if (username === null && email === null && phone === null) return [];
  return [
    {
      type: 'user.updated',
      username,
      email,
      phone,
      previousUsername: username === null ? null : user.username,
      previousEmail: email === null ? null : user.email,
    },
  ];
}

function changeStatus(c: Extract<UserCommand, { type: 'ChangeUserStatus' }>, state: UserState): Draft<UserEvent>[] {
  const user = live(state);
  if (user.status === c.status) return [];
  return [{ type: 'user.status.changed', status: c.status, previousStatus: user.status, reason: c.reason }];
}

function remove(c: Extract<UserCommand, { type: 'DeleteUser' }>, state: UserState): Draft<UserEvent>[] {
  const user = live(state);
  return [{ type: 'user.deleted', reason: c.reason, username: user.username, email: user.email }];
}

export const userDecider: Decider<UserCommand, UserEvent, UserState> = {
  initialState: { status: 'none' },
  commands: { RegisterUser: true, UpdateUser: true, ChangeUserStatus: true, DeleteUser: true, CheckUser: true },
  decide(command, state) {
    switch (command.type) {
      case 'RegisterUser':
        return register(command, state);
      case 'UpdateUser':
        return update(command, state);
      case 'ChangeUserStatus':
        return changeStatus(command, state);
      case 'DeleteUser':
        return remove(command, state);
      case 'CheckUser':
        live(state);
        return [];
      default:
        return assertNever(command);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'user.created':
        return { status: event.status, username: event.username, email: event.email, phone: event.phone };
      case 'user.updated': {
        if (state.status === 'none' || state.status === 'deleted') return state;
        return {
          ...state,
          username: event.username ?? state.username,
          email: event.email ?? state.email,
          phone: event.phone ?? state.phone,
        };
      }
      case 'user.status.changed':
        return state.status === 'none' || state.status === 'deleted' ? state : { ...state, status: event.status };
      case 'user.deleted':
        return state.status === 'none' || state.status === 'deleted' ? state : { ...state, status: 'deleted', lastStatus: state.status };
      default:
        return assertNever(event);
    }
  },
};

/** A user owns their own account: a `user` may command only it (checked by the writer, lib/command-processor.ts). */
export const userOwner = (state: UserState, userId: string): string | null => (state.status === 'none' ? null : userId);
