import { assertNever, type Decider, type Draft } from '../../lib/decider';
import { conflict, notFound } from '../../lib/errors';
import type { DeviceEvent, DeviceSpec, DeviceStatus } from './events';

export type DeviceCommand =
  | {
      readonly type: 'CreateDevice';
      readonly userId: string;
      readonly name: string;
      readonly spec: DeviceSpec;
      readonly tier: string;
      readonly region: string;
      readonly orderId: string | null;
    }
  | { readonly type: 'StartDevice' }
  | { readonly type: 'StopDevice'; readonly reason: string | null }
  | { readonly type: 'UpdateDevice'; readonly name?: string; readonly spec?: DeviceSpec }
  | { readonly type: 'DeleteDevice'; readonly reason: string | null };

export type DeviceState =
  | { readonly status: 'none' }
  | {
      readonly status: DeviceStatus;
      readonly userId: string;
      readonly name: string;
      readonly spec: DeviceSpec;
      readonly tier: string;
      readonly region: string;
      readonly orderId: string | null;
    };

type Existing = Exclude<DeviceState, { status: 'none' }>;

function existing(state: DeviceState): Existing {
  if (state.status === 'none') throw notFound('device not found');
  if (state.status === 'deleted') throw conflict('device is deleted');
  return state;
}

const sameSpec = (a: DeviceSpec, b: DeviceSpec) =>
  a.cpuCores === b.cpuCores && a.memoryMb === b.memoryMb && a.storageGb === b.storageGb && a.androidVersion === b.androidVersion;

function decide(c: DeviceCommand, state: DeviceState): Draft<DeviceEvent>[] {
  switch (c.type) {
    case 'CreateDevice': {
      if (state.status !== 'none') throw conflict('device already exists');
      return [{ type: 'device.created', userId: c.userId, name: c.name, spec: c.spec, tier: c.tier, region: c.region, orderId: c.orderId }];
    }
    case 'StartDevice': {
      const d = existing(state);
      if (d.status === 'running') throw conflict('device is already running');
      return [{ type: 'device.started', userId: d.userId }];
    }
    case 'StopDevice': {
      const d = existing(state);
      if (d.status !== 'running') throw conflict(`device is not running (it is ${d.status})`);
      return [{ type: 'device.stopped', userId: d.userId, reason: c.reason }];
    }
    case 'UpdateDevice': {
      const d = existing(state);
      const name = c.name !== undefined && c.name !== d.name ? c.name : null;
      const spec = c.spec !== undefined && !sameSpec(c.spec, d.spec) ? c.spec : null;
      if (name === null && spec === null) return [];
      if (spec !== null && d.status === 'running') throw conflict('stop the device before changing its spec');
      return [{ type: 'device.updated', userId: d.userId, name, spec }];
    }
    case 'DeleteDevice': {
      const d = existing(state);
      return [{ type: 'device.deleted', userId: d.userId, reason: c.reason }];
    }
    default:
      return assertNever(c);
  }
}

function evolve(state: DeviceState, e: DeviceEvent): DeviceState {
  if (e.type === 'device.created') {
    return { status: 'created', userId: e.userId, name: e.name, spec: e.spec, tier: e.tier, region: e.region, orderId: e.orderId };
  }
  if (state.status === 'none') return state;
  switch (e.type) {
    case 'device.started':
      return { ...state, status: 'running' };
    case 'device.stopped':
      return { ...state, status: 'stopped' };
    case 'device.updated':
      return { ...state, name: e.name ?? state.name, spec: e.spec ?? state.spec };
    case 'device.deleted':
      return { ...state, status: 'deleted' };
    default:
      return assertNever(e);
  }
}

export const deviceDecider: Decider<DeviceCommand, DeviceEvent, DeviceState> = {
  initialState: { status: 'none' },
  commands: { CreateDevice: true, StartDevice: true, StopDevice: true, UpdateDevice: true, DeleteDevice: true },
  decide,
  evolve,
};

/** Whose device it is: a `user` may command only their own (checked by the writer, lib/command-processor.ts). */
export const deviceOwner = (state: DeviceState): string | null => (state.status === 'none' ? null : state.userId);
