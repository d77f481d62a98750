import { z } from 'zod';

/** Input shapes shared by several routes. Strict objects: an unknown field is an error, not silently dropped. */
export const id = z.string().trim().min(1).max(128);
export const text = (max: number) => z.string().trim().min(1).max(max);
export const reason = z.string().trim().min(1).max(500).nullable().optional();
/** The body of a command without fields: `{}` or none at all. */
export const noBody = z.strictObject({});

/** Money in integer minor units (fen) with an ISO 4217 code; never a float. */
export const money = z.strictObject({
  amount: z
    .number()
    .int('amount must be an integer number of minor units (fen)')
    .positive('amount must be positive')
    .max(Number.MAX_SAFE_INTEGER),
  currency: z.string().regex(/^[A-Z]{3}$/, 'currency must be an ISO 4217 code such as CNY'),
});

export const deviceSpec = z.strictObject({
  cpuCores: z.number().int().min(1).max(64),
  memoryMb: z.number().int().min(512).max(262_144),
  storageGb: z.number().int().min(8).max(4096),
  androidVersion: z.string().regex(/^\d+(\.\d+)*$/, 'androidVersion is a version number such as 13'),
});

/** The rate tiers a device can be on (their per-minute rates live with the billing read model). */
export const tier = z.enum(['basic', 'standard', 'premium']);
export const region = z.string().regex(/^[a-z]{2}-[a-z]+(-\d+)?$/, 'region looks like cn-east or cn-north-1');

/** An aggregate id in a path (a malformed id is a 400, not a lookup). */
export const pathIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\w.:-]+$/, 'ids are letters, digits, "-", "_", ".", ":"');
