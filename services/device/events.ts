/**
 * The event contract of the device aggregate: what its writer appends and what projections and policies read.
 * The event types and their guard are generated from schemas/device/*.avsc (events.generated.ts); the write side,
 * the read side and the reactions all import them from here, never from the decider.
 */
export * from './events.generated';

/** A device's lifecycle status, as its writer, the read models and the policies name it. */
export type DeviceStatus = 'created' | 'running' | 'stopped' | 'deleted';
