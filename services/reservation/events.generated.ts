// Generated from schemas/reservation/*.avsc by `npm run schemas:types`. Do not edit.

import type { EventEnvelope } from '../../lib/event-log';

export type ReservationKind = 'username' | 'email';

/** A unique value (a username or an email within a tenant) was reserved for its owner. The aggregate id is the reservation key. */
export interface ReservationClaimed extends EventEnvelope {
  readonly type: 'reservation.claimed';
  /** The user that holds the value. */
  readonly ownerId: string;
  /** What is reserved. */
  readonly kind: ReservationKind;
  /** The value as reserved (normalised: trimmed, lower-case). */
  readonly value: string;
}

/** The owner gave the value up (renamed, changed email, deleted, or a registration that did not complete). */
export interface ReservationReleased extends EventEnvelope {
  readonly type: 'reservation.released';
  readonly ownerId: string;
}

export type ReservationEvent = ReservationClaimed | ReservationReleased;

export type ReservationEventType = ReservationEvent['type'];

export const reservationEventTypes = ['reservation.claimed', 'reservation.released'] as const;

const reservationEventTypeSet: ReadonlySet<string> = new Set(reservationEventTypes);

/** Whether an event is one of these (a type guard: past it, the compiler knows the event's type and fields). */
export const isReservationEvent = <T extends EventEnvelope>(e: T): e is T & ReservationEvent => reservationEventTypeSet.has(e.type);
