import { deciderSpec } from '../../test/decider-spec';
import { draft, envelope } from '../../test/events';
import { userDecider } from './decider';
import { ERASED, type UserEvent } from './events';

const spec = deciderSpec(userDecider, 'user-1');
const created = draft('user.created', { username: 'alice', email: 'alice@example.com' });
const deleted = draft('user.deleted', { username: 'alice', email: 'alice@example.com' });
const erased = draft('user.erased', { reason: null });

describe('user decider', () => {
  describe('RegisterUser', () => {
    test('a new user is created active', () =>
      spec.given().when({ type: 'RegisterUser', username: 'alice', email: 'alice@example.com', phone: null }).then(created));
    test('an existing user cannot register again', () =>
      spec
        .given(created)
        .when({ type: 'RegisterUser', username: 'alice', email: 'a@x.io', phone: null })
        .thenRejects(409, /already exists/));
  });

  describe('UpdateUser', () => {
    test('only the fields that change are in the event', () =>
      spec
        .given(created)
        .when({ type: 'UpdateUser', username: 'alice', email: 'alice@new.example.com', phone: '+86 138' })
        .then(draft('user.updated', { email: 'alice@new.example.com', phone: '+86 138', previousEmail: 'alice@example.com' })));
    test('an update that changes nothing appends nothing', () =>
      spec.given(created).when({ type: 'UpdateUser', username: 'alice' }).then());
    test('an unknown user is not found', () =>
      spec
        .given()
        .when({ type: 'UpdateUser', username: 'bob' })
        .thenRejects(404, /not found/));
    test('a deleted user cannot be updated', () =>
      spec
        .given(created, deleted)
        .when({ type: 'UpdateUser', username: 'bob' })
        .thenRejects(409, /deleted/));
    test('updates fold into the state', () => {
      const { state } = spec.given(created, draft('user.updated', { username: 'alice2', phone: '1', previousUsername: 'alice' }));
      expect(state).toEqual({ status: 'active', username: 'alice2', email: 'alice@example.com', phone: '1' });
    });
  });

  describe('ChangeUserStatus', () => {
    test('a status change records the previous status', () =>
      spec
        .given(created)
        .when({ type: 'ChangeUserStatus', status: 'suspended', reason: 'unpaid bills' })
        .then(draft('user.status.changed', { status: 'suspended', previousStatus: 'active', reason: 'unpaid bills' })));
    test('changing to the current status appends nothing', () =>
      spec.given(created).when({ type: 'ChangeUserStatus', status: 'active', reason: null }).then());
    test('a banned user can be reactivated', () =>
      spec
        .given(created, draft('user.status.changed', { status: 'banned', previousStatus: 'active' }))
        .when({ type: 'ChangeUserStatus', status: 'active', reason: 'appeal' })
        .then(draft('user.status.changed', { status: 'active', previousStatus: 'banned', reason: 'appeal' })));
    test('an unknown user is not found', () =>
      spec
        .given()
        .when({ type: 'ChangeUserStatus', status: 'banned', reason: null })
        .thenRejects(404, /not found/));
    test('a deleted user keeps no status', () =>
      spec
        .given(created, deleted)
        .when({ type: 'ChangeUserStatus', status: 'banned', reason: null })
        .thenRejects(409, /deleted/));
  });

  describe('CheckUser', () => {
    test('a live user passes and nothing is appended', () => spec.given(created).when({ type: 'CheckUser' }).then());
    test('an unknown user is not found', () =>
      spec
        .given()
        .when({ type: 'CheckUser' })
        .thenRejects(404, /user not found/));
    test('a deleted user is refused', () =>
      spec
        .given(created, deleted)
        .when({ type: 'CheckUser' })
        .thenRejects(409, /user is deleted/));
  });

  describe('CheckActor (may this user act?)', () => {
    const status = (to: 'suspended' | 'banned' | 'active') => draft('user.status.changed', { status: to, previousStatus: 'active' });
    test('an active account acts, and nothing is appended', () => spec.given(created).when({ type: 'CheckActor' }).then());
    test('a suspended account may only read', () =>
      spec
        .given(created, status('suspended'))
        .when({ type: 'CheckActor' })
        .thenRejects(403, /your account is suspended/));
    test('a banned account may only read', () =>
      spec
        .given(created, status('banned'))
        .when({ type: 'CheckActor' })
        .thenRejects(403, /your account is banned/));
    test('a deleted account may do nothing', () =>
      spec
        .given(created, deleted)
        .when({ type: 'CheckActor' })
        .thenRejects(403, /your account is deleted/));
    test('an account that does not exist may do nothing', () =>
      spec
        .given()
        .when({ type: 'CheckActor' })
        .thenRejects(403, /does not exist/));
    test('re-activated, it acts again', () => spec.given(created, status('banned'), status('active')).when({ type: 'CheckActor' }).then());
  });

  describe('DeleteUser', () => {
    test('a user is deleted, with the username and email it frees, and their personal data erased', () =>
      spec
        .given(created)
        .when({ type: 'DeleteUser', reason: 'asked' })
        .then({ ...deleted, reason: 'asked' }, { ...erased, reason: 'asked' }));
    test('a deleted user cannot be deleted again', () =>
      spec
        .given(created, deleted, erased)
        .when({ type: 'DeleteUser', reason: null })
        .thenRejects(409, /deleted/));
    test('an unknown user is not found', () =>
      spec
        .given()
        .when({ type: 'DeleteUser', reason: null })
        .thenRejects(404, /not found/));
  });

  describe('EraseUser', () => {
    test('a live account is closed, then erased', () =>
      spec
        .given(created)
        .when({ type: 'EraseUser', reason: 'PIPL request' })
        .then({ ...deleted, reason: 'PIPL request' }, { ...erased, reason: 'PIPL request' }));
    test('an account deleted before erasure existed is erased', () =>
      spec.given(created, deleted).when({ type: 'EraseUser', reason: null }).then(erased));
    test('an erased account has nothing left to erase', () =>
      spec.given(created, deleted, erased).when({ type: 'EraseUser', reason: null }).then());
    test('an unknown user is not found', () =>
      spec
        .given()
        .when({ type: 'EraseUser', reason: null })
        .thenRejects(404, /not found/));
    test('the writer forgets the values: an erased account holds only the placeholder', () => {
      const state = [created, deleted, erased].reduce(
        (s, e, i) => userDecider.evolve(s, { ...e, ...envelope({ aggregateVersion: i + 1 }) } as UserEvent),
        userDecider.initialState,
      );
      expect(state).toMatchObject({ status: 'deleted', erased: true, username: ERASED, email: ERASED, phone: null });
      expect(JSON.stringify(state)).not.toContain('alice');
    });
  });

  describe('expected version', () => {
    test('a stale expected version is a conflict naming the current version', () =>
      spec
        .given(created)
        .when({ type: 'UpdateUser', username: 'x' }, { expectedVersion: 0 })
        .thenRejects(409, /current version is 1/));
    test('the current expected version passes', () =>
      spec.given(created).when({ type: 'DeleteUser', reason: null }, { expectedVersion: 1 }).then(deleted, erased));
  });
});
