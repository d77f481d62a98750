/**
 * The event contract of the notification aggregate: what its writer appends and what projections and policies read.
 * The event types and their guard are generated from schemas/notification/*.avsc (events.generated.ts); the write side,
 * the read side and the reactions all import them from here, never from the decider.
 */
export * from './events.generated';

/** A notification's status, as its writer and the notification read model name it. */
export type NotificationStatus = 'unread' | 'read';
