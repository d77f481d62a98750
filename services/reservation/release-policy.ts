import { NO_REACTION, type Reaction } from '../../lib/policy';
import { defineReactions } from '../events';
import { normalise, reservationId } from './decider';
import type { ReservationKind } from './events';

/** Releases a value the user gave up; `kept` is what they hold now (a change of letter case keeps the same reservation). */
function release(
  e: { aggregateId: string; tenantId: string | null },
  kind: ReservationKind,
  value: string | null,
  kept: string | null = null,
): Reaction[] {
  if (value === null || (kept !== null && normalise(kept) === normalise(value))) return [];
  return [
    {
      aggregate: 'reservation',
      aggregateId: reservationId(e.tenantId ?? 'default', kind, value),
      type: 'ReleaseReservation',
      payload: { ownerId: e.aggregateId },
    },
  ];
}

/**
 * Frees the usernames and emails a user gives up: the old values after user.updated, both values after
 * user.deleted. (Claims are made synchronously by the user API before the user command is sent.) Then, at
 * user.erased, destroys the user's personal-data key (lib/pii.ts): here, because user.deleted comes before it on the
 * same partition and this policy had to read its username and email to free them — once the key is gone they read
 * as erased everywhere.
 */
export const reservationRelease = defineReactions('reservation-release', {
  user: {
    'user.updated': (e) => [...release(e, 'username', e.previousUsername, e.username), ...release(e, 'email', e.previousEmail, e.email)],
    'user.deleted': (e) => [...release(e, 'username', e.username), ...release(e, 'email', e.email)],
    'user.created': NO_REACTION,
    'user.status.changed': NO_REACTION,
    // user.deleted, just before it, released the values; what is left is to make them unreadable.
    'user.erased': (e) => [{ shred: e.aggregateId }],
  },
});
