import { reservationId } from './decider';
import { reservationRelease } from './release-policy';

const { react } = reservationRelease;
const meta = {
  eventId: 'e1',
  aggregateId: 'u1',
  aggregateVersion: 2,
  occurredAt: 1,
  correlationId: 'c',
  causationId: null,
  tenantId: 'acme',
};

describe('reservation release policy', () => {
  test('a changed username frees the old one, and only that', () => {
    expect(
      react({ ...meta, type: 'user.updated', username: 'bob', email: null, phone: null, previousUsername: 'alice', previousEmail: null }),
    ).toEqual([
      {
        aggregate: 'reservation',
        aggregateId: reservationId('acme', 'username', 'alice'),
        type: 'ReleaseReservation',
        payload: { ownerId: 'u1' },
      },
    ]);
  });
  test('a change of letter case only keeps the reservation (issue 12, finding 8: ua09 → UA09 freed the user’s own name)', () => {
    expect(
      react({ ...meta, type: 'user.updated', username: 'UA09', email: null, phone: null, previousUsername: 'ua09', previousEmail: null }),
    ).toEqual([]);
    expect(
      react({
        ...meta,
        type: 'user.updated',
        username: null,
        email: 'A@X.io',
        phone: null,
        previousUsername: null,
        previousEmail: 'a@x.io',
      }),
    ).toEqual([]);
  });
  test('a deleted user frees its username and email', () => {
    const out = react({ ...meta, type: 'user.deleted', reason: null, username: 'alice', email: 'a@x.io' });
    expect(out.map((r) => r.aggregateId)).toEqual([reservationId('acme', 'username', 'alice'), reservationId('acme', 'email', 'a@x.io')]);
  });
  test('other events free nothing', () => {
    expect(react({ ...meta, type: 'user.created', username: 'a', email: 'b', phone: null, status: 'active' })).toEqual([]);
  });
});
