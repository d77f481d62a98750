import type { DeviceSpec } from '../services/device/events';
import type { Money } from '../services/order/events';

/**
 * The domain values the specs share: a device's hardware, money in fen, and the bodies of a new device and a new
 * order (POST /devices and /orders, the CreateDevice and CreateOrder payloads). A spec that needs another value
 * says so where it builds its own: `newDevice(user, { tier: 'premium' })`.
 */

/** The usual phone: 2 cores, 4 GiB, 32 GB, Android 13. */
export const deviceSpec: DeviceSpec = { cpuCores: 2, memoryMb: 4096, storageGb: 32, androidVersion: '13' };

/** A bigger phone: 4 cores, 8 GiB, 64 GB, Android 13. */
export const largeDeviceSpec: DeviceSpec = { cpuCores: 4, memoryMb: 8192, storageGb: 64, androidVersion: '13' };

/** An amount in fen (CNY minor units): `fen(2990)` is ¥29.90. */
export const fen = (amount: number): Money => ({ amount, currency: 'CNY' });

export interface NewDevice {
  userId: string;
  name: string;
  spec: DeviceSpec;
  tier: string;
  region: string;
}

/** A new device of the user's: a basic `phone` of the usual spec in cn-east. */
export const newDevice = (userId: string, over: Partial<NewDevice> = {}): NewDevice => ({
  userId,
  name: 'phone',
  spec: deviceSpec,
  tier: 'basic',
  region: 'cn-east',
  ...over,
});

export interface NewOrder {
  userId: string;
  planId: string;
  planName: string;
  amount: Money;
  spec: DeviceSpec;
  tier: string;
  region: string;
}

/** A new order of the user's: plan `p` ("Plan") at ¥29.90 for a basic device of the usual spec in cn-east. */
export const newOrder = (userId: string, over: Partial<NewOrder> = {}): NewOrder => ({
  userId,
  planId: 'p',
  planName: 'Plan',
  amount: fen(2990),
  spec: deviceSpec,
  tier: 'basic',
  region: 'cn-east',
  ...over,
});
