// Generated from schemas/device/*.avsc by `npm run schemas:types`. Do not edit.

import type { EventEnvelope } from '../../lib/event-log';

export interface DeviceSpec {
  readonly cpuCores: number;
  readonly memoryMb: number;
  readonly storageGb: number;
  readonly androidVersion: string;
}

/** A cloud device was allocated to a user. */
export interface DeviceCreated extends EventEnvelope {
  readonly type: 'device.created';
  readonly userId: string;
  readonly name: string;
  readonly spec: DeviceSpec;
  /** Rate tier used for metering (see config/tier-rates.json). */
  readonly tier: string;
  readonly region: string;
  /** The order that paid for the device, if any. */
  readonly orderId: null | string;
}

/** The device was released. */
export interface DeviceDeleted extends EventEnvelope {
  readonly type: 'device.deleted';
  readonly userId: string;
  readonly reason: null | string;
}

/** The device was powered on. */
export interface DeviceStarted extends EventEnvelope {
  readonly type: 'device.started';
  readonly userId: string;
}

/** The device was powered off. */
export interface DeviceStopped extends EventEnvelope {
  readonly type: 'device.stopped';
  readonly userId: string;
  readonly reason: null | string;
}

/** Name or spec changed; a null field is unchanged. */
export interface DeviceUpdated extends EventEnvelope {
  readonly type: 'device.updated';
  readonly userId: string;
  readonly name: null | string;
  readonly spec: null | DeviceSpec;
}

export type DeviceEvent = DeviceCreated | DeviceDeleted | DeviceStarted | DeviceStopped | DeviceUpdated;

export type DeviceEventType = DeviceEvent['type'];

export const deviceEventTypes = ['device.created', 'device.deleted', 'device.started', 'device.stopped', 'device.updated'] as const;

const deviceEventTypeSet: ReadonlySet<string> = new Set(deviceEventTypes);

/** Whether an event is one of these (a type guard: past it, the compiler knows the event's type and fields). */
export const isDeviceEvent = <T extends EventEnvelope>(e: T): e is T & DeviceEvent => deviceEventTypeSet.has(e.type);
