import { deciderSpec } from '../../test/decider-spec';
import { draft } from '../../test/events';
import { reservationDecider, reservationId } from './decider';

const spec = deciderSpec(reservationDecider, 'r-1');
const claimed = draft('reservation.claimed', { ownerId: 'u1', kind: 'username', value: 'alice' });

describe('reservation decider (unique usernames and emails within a tenant)', () => {
  test('a free value is claimed, normalised', () =>
    spec.given().when({ type: 'ClaimReservation', ownerId: 'u1', kind: 'username', value: ' Alice ' }).then(claimed));
  test('a value held by another user is taken', () =>
    spec
      .given(claimed)
      .when({ type: 'ClaimReservation', ownerId: 'u2', kind: 'username', value: 'alice' })
      .thenRejects(409, /this username is already taken/));
  test('claiming again by the same owner appends nothing', () =>
    spec.given(claimed).when({ type: 'ClaimReservation', ownerId: 'u1', kind: 'username', value: 'alice' }).then());
  test('the owner releases it', () =>
    spec
      .given(claimed)
      .when({ type: 'ReleaseReservation', ownerId: 'u1' })
      .then(draft('reservation.released', { ownerId: 'u1' })));
  test('someone else cannot release it', () => spec.given(claimed).when({ type: 'ReleaseReservation', ownerId: 'u2' }).then());
  test('a released value can be claimed by another user', () =>
    spec
      .given(claimed, draft('reservation.released', { ownerId: 'u1' }))
      .when({ type: 'ClaimReservation', ownerId: 'u2', kind: 'username', value: 'alice' })
      .then({ ...claimed, ownerId: 'u2' }));
  test('the key is per tenant, per kind and case-insensitive', () => {
    expect(reservationId('t1', 'username', 'Alice')).toBe(reservationId('t1', 'username', 'alice '));
    expect(reservationId('t1', 'username', 'alice')).not.toBe(reservationId('t2', 'username', 'alice'));
    expect(reservationId('t1', 'username', 'a@b.c')).not.toBe(reservationId('t1', 'email', 'a@b.c'));
  });
});
