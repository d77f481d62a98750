import type { AnyEvent } from '../../lib/event-log';
import type { Reaction } from '../../lib/policy';
import type { Topics } from '../../lib/topics';
import { isUserEvent } from '../user/events';
import { normalise, reservationId } from './decider';
import type { ReservationKind } from './events';

/**
 * Frees the usernames and emails a user gives up: the old values after user.updated, both values after
 * user.deleted. (Claims are made synchronously by the user API before the user command is sent.)
 */
export function releaseReservations(topics: Topics) {
  return (e: AnyEvent): Reaction[] => {
    if (!isUserEvent(e)) return [];
    const event = e;
    const tenant = event.tenantId ?? 'default';
    /** Releases a value the user gave up; `kept` is what they hold now (a change of letter case keeps the same reservation). */
    const release = (kind: ReservationKind, value: string | null, kept: string | null = null): Reaction[] =>
      value === null || (kept !== null && normalise(kept) === normalise(value))
        ? []
        : [
            {
              topics: topics.reservation,
              aggregateId: reservationId(tenant, kind, value),
              type: 'ReleaseReservation',
              payload: { ownerId: event.aggregateId },
            },
          ];
    switch (event.type) {
      case 'user.updated':
        return [...release('username', event.previousUsername, event.username), ...release('email', event.previousEmail, event.email)];
      case 'user.deleted':
        return [...release('username', event.username), ...release('email', event.email)];
      default:
        return [];
    }
  };
}
