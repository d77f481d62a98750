import { assertNever, deterministicUuid, type Decider, type Draft } from '../../lib/decider';
import { conflict } from '../../lib/errors';
import { ERASED } from '../../lib/pii';
import type { ReservationEvent, ReservationKind } from './events';

/**
 * A unique value within a tenant (a username, an email) is an aggregate of its own, keyed by the value:
 * its single writer decides who holds it, so uniqueness never depends on reading a read model.
 */
export type ReservationCommand =
  | { readonly type: 'ClaimReservation'; readonly ownerId: string; readonly kind: ReservationKind; readonly value: string }
  | { readonly type: 'ReleaseReservation'; readonly ownerId: string };

export type ReservationState =
  | { readonly status: 'free' }
  | { readonly status: 'held'; readonly ownerId: string; readonly kind: ReservationKind; readonly value: string };

export const normalise = (value: string) => value.trim().toLowerCase();

/** The aggregate id of a value: one per (tenant, kind, normalised value). */
export const reservationId = (tenantId: string, kind: ReservationKind, value: string) =>
  deterministicUuid(`reservation/${tenantId}/${kind}/${normalise(value)}`);

function decide(c: ReservationCommand, state: ReservationState): Draft<ReservationEvent>[] {
  switch (c.type) {
    case 'ClaimReservation':
      if (state.status === 'held') {
        if (state.ownerId === c.ownerId) return [];
        // The reply names the field, not the value: replies pass through Kafka, where personal data is only sealed.
        throw conflict(`this ${c.kind} is already taken`, { field: c.kind });
      }
      return [{ type: 'reservation.claimed', ownerId: c.ownerId, kind: c.kind, value: normalise(c.value) }];
    case 'ReleaseReservation':
      return state.status === 'held' && state.ownerId === c.ownerId ? [{ type: 'reservation.released', ownerId: c.ownerId }] : [];
    default:
      return assertNever(c);
  }
}

function evolve(_state: ReservationState, e: ReservationEvent): ReservationState {
  switch (e.type) {
    case 'reservation.claimed':
      return { status: 'held', ownerId: e.ownerId, kind: e.kind, value: e.value };
    case 'reservation.released':
      return { status: 'free' };
    default:
      return assertNever(e);
  }
}

export const reservationDecider: Decider<ReservationCommand, ReservationEvent, ReservationState> = {
  initialState: { status: 'free' },
  commands: { ClaimReservation: true, ReleaseReservation: true },
  // The value held is its owner's personal data (lib/pii.ts): sealed under their key in commands and snapshots.
  personal: {
    commandFields: ['value'],
    commandSubject: (_id, payload) => (typeof payload.ownerId === 'string' ? payload.ownerId : null),
    stateSubject: (state) => (state.status === 'held' ? state.ownerId : null),
    erase: (state) => (state.status === 'held' ? { ...state, value: ERASED } : state),
  },
  decide,
  evolve,
};
