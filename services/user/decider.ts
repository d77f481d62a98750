import { assertNever, type Decider, type Draft } from '../../lib/decider';
import { conflict, DomainError, notFound } from '../../lib/errors';
import { ERASED, type UserEvent, type UserStatus } from './events';

export type UserCommand =
  | { readonly type: 'RegisterUser'; readonly username: string; readonly email: string; readonly phone: string | null }
  | { readonly type: 'UpdateUser'; readonly username?: string; readonly email?: string; readonly phone?: string }
  | { readonly type: 'ChangeUserStatus'; readonly status: UserStatus; readonly reason: string | null }
  /** Closes the account and erases its personal data (user.deleted, then user.erased). */
  | { readonly type: 'DeleteUser'; readonly reason: string | null }
  /**
   * Erases the account's personal data (a tenant admin's, PIPL Art. 47 / GDPR Art. 17): a live account is closed
   * first; an account deleted before erasure existed is erased; an erased one has nothing left to erase.
   */
  | { readonly type: 'EraseUser'; readonly reason: string | null }
  /**
   * Appends nothing: the user exists and is not deleted. Sent before a command of another aggregate names the
   * user (a device, an order, an install, a notice for them), so that this writer decides whether the caller may
   * name the user — their tenant's, and for a `user` only themselves.
   */
  | { readonly type: 'CheckUser' }
  /**
   * Appends nothing: the sender (a `user` actor, commanding anything) may act — their account exists in their
   * tenant, is active and not deleted. A suspended, banned, deleted or unknown account may only read: 403.
   */
  | { readonly type: 'CheckActor' };

interface Profile {
  readonly username: string;
  readonly email: string;
  readonly phone: string | null;
}
export type UserState =
  | { readonly status: 'none' }
  | ({ readonly status: UserStatus } & Profile)
  | ({ readonly status: 'deleted'; readonly lastStatus: UserStatus; readonly erased: boolean } & Profile);

type Live = Extract<UserState, { status: UserStatus }>;

function live(state: UserState): Live {
  if (state.status === 'none') throw notFound('user not found');
  if (state.status === 'deleted') throw conflict('user is deleted');
  return state;
}

/**
 * The account of a caller who wants to act: 403 unless it is active (the caller is authenticated, so 401 would
 * only send them to sign in again; their account's state is what forbids the write).
 */
function activeAccount(state: UserState): void {
  if (state.status === 'active') return;
  const [code, message] =
    state.status === 'none'
      ? ['account_unknown', 'your account does not exist']
      : state.status === 'deleted'
        ? ['account_deleted', 'your account is deleted']
        : [`account_${state.status}`, `your account is ${state.status}: it may read, not change anything`];
  throw new DomainError(403, code, message);
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
  // user.deleted names the username and email it frees (the reservation-release policy reads them) before they go.
  return [
    { type: 'user.deleted', reason: c.reason, username: user.username, email: user.email },
    { type: 'user.erased', reason: c.reason },
  ];
}

function erase(c: Extract<UserCommand, { type: 'EraseUser' }>, state: UserState): Draft<UserEvent>[] {
  if (state.status === 'none') throw notFound('user not found');
  if (state.status !== 'deleted') return remove({ type: 'DeleteUser', reason: c.reason }, state);
  return state.erased ? [] : [{ type: 'user.erased', reason: c.reason }];
}

/** The profile as erasure leaves it (a phone never given stays null). */
const erasedProfile = (p: Profile): Profile => ({ username: ERASED, email: ERASED, phone: p.phone === null ? null : ERASED });

export const userDecider: Decider<UserCommand, UserEvent, UserState> = {
  initialState: { status: 'none' },
  // The profile and the reasons are the user's personal data: sealed under their key on the command topic and in
  // the snapshots (lib/pii.ts), as in the events (schemas/user/*.avsc, "pii").
  personal: {
    commandFields: ['username', 'email', 'phone', 'reason'],
    commandSubject: (userId) => userId,
    stateSubject: (state, userId) => (state.status === 'none' || (state.status === 'deleted' && state.erased) ? null : userId),
    erase: (state) => (state.status === 'none' ? state : { ...state, ...erasedProfile(state) }),
  },
  commands: {
    RegisterUser: true,
    UpdateUser: true,
    ChangeUserStatus: true,
    DeleteUser: true,
    EraseUser: true,
    CheckUser: true,
    CheckActor: true,
  },
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
      case 'EraseUser':
        return erase(command, state);
      case 'CheckUser':
        live(state);
        return [];
      case 'CheckActor':
        activeAccount(state);
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
        return state.status === 'none' || state.status === 'deleted'
          ? state
          : { ...state, status: 'deleted', lastStatus: state.status, erased: false };
      case 'user.erased':
        // The writer forgets the values too: its next snapshot holds the placeholder, never the erased data.
        return state.status !== 'deleted' ? state : { ...state, erased: true, ...erasedProfile(state) };
      default:
        return assertNever(event);
    }
  },
};

/** A user owns their own account: a `user` may command only it (checked by the writer, lib/command-processor.ts). */
export const userOwner = (state: UserState, userId: string): string | null => (state.status === 'none' ? null : userId);
