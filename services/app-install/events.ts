/**
 * The event contract of the app-install aggregate: what its writer appends and what projections and policies read.
 * The event types and their guard are generated from schemas/app-install/*.avsc (events.generated.ts); the write side,
 * the read side and the reactions all import them from here, never from the decider.
 */
export * from './events.generated';

/** An app install's status, as its writer and the device read model name it. */
export type AppInstallStatus = 'requested' | 'installed' | 'failed';
