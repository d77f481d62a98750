import type { CommandReaction } from '../../lib/policy';
import { event } from '../../test/events';
import { reservationId } from './decider';
import { reservationRelease } from './release-policy';

const { react } = reservationRelease;
const meta = { eventId: 'e1', aggregateId: 'u1', aggregateVersion: 2, occurredAt: 1, tenantId: 'acme' };

describe('reservation release policy', () => {
  test('a changed username frees the old one, and only that', () => {
    expect(react(event('user.updated', { ...meta, username: 'bob', previousUsername: 'alice' }))).toEqual([
      {
        aggregate: 'reservation',
        aggregateId: reservationId('acme', 'username', 'alice'),
        type: 'ReleaseReservation',
        payload: { ownerId: 'u1' },
      },
    ]);
  });
  test('a change of letter case only keeps the reservation (issue 12, finding 8: ua09 → UA09 freed the user’s own name)', () => {
    expect(react(event('user.updated', { ...meta, username: 'UA09', previousUsername: 'ua09' }))).toEqual([]);
    expect(react(event('user.updated', { ...meta, email: 'A@X.io', previousEmail: 'a@x.io' }))).toEqual([]);
  });
  test('a deleted user frees its username and email', () => {
    const out = react(event('user.deleted', { ...meta, username: 'alice', email: 'a@x.io' })) as CommandReaction[];
    expect(out.map((r) => r.aggregateId)).toEqual([reservationId('acme', 'username', 'alice'), reservationId('acme', 'email', 'a@x.io')]);
  });
  test('an erased user’s personal-data key is destroyed, after user.deleted freed the values', () => {
    expect(react(event('user.erased', { ...meta, reason: null }))).toEqual([{ shred: 'u1' }]);
  });
  test('other events free nothing', () => {
    expect(react(event('user.created', { ...meta, username: 'a', email: 'b' }))).toEqual([]);
  });
});
