/**
 * The event contract of the order aggregate: what its writer appends and what projections and policies read.
 * The event types and their guard are generated from schemas/order/*.avsc (events.generated.ts); the write side,
 * the read side and the reactions all import them from here, never from the decider.
 */
export * from './events.generated';

/** An order's status, as its writer, the billing read model and the purchase saga name it. */
export type OrderStatus = 'created' | 'paid' | 'cancelled' | 'refunded';
