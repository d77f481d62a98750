/**
 * The event contract of the user aggregate: what its writer appends and what projections and policies read.
 * The event types and their guard are generated from schemas/user/*.avsc (events.generated.ts); the write side,
 * the read side and the reactions all import them from here, never from the decider.
 */
export * from './events.generated';

/**
 * What every read model shows in place of an erased user's username, email and phone (a phone they never gave
 * stays null), and what the log's sealed fields read as once the user's key is destroyed (lib/pii.ts). user.erased
 * follows user.deleted; the money records of the user keep their amounts and times.
 */
export { ERASED } from '../../lib/pii';
