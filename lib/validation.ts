import { z } from 'zod';

/**
 * One definition of valid input. What the API accepts is what the Avro schema, the encoder, the deciders and
 * PostgreSQL accept: the routes build their bodies from these rules, the event log checks every event it
 * encodes against them (`fields` and `envelope`, lib/event-log.ts), and a unit test holds `fields` against every
 * field of every .avsc (schemas/schemas.unit.spec.ts). The table of bounds is in README.md (Valid input).
 *
 * Strings are valid Unicode (no lone surrogate: JSON can carry one, UTF-8 and Avro cannot) without NUL or other
 * C0 control characters and DEL (PostgreSQL refuses NUL in text); free text may hold a newline.
 */

/** U+0000–U+001F and U+007F; free text allows \n. Lone surrogates are \p{Cs} in a `u` regex (pairs are one code point). */
/* eslint-disable no-control-regex -- matching control characters is the point */
const CONTROL = /[\u0000-\u001f\u007f]/;
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f]/;
/* eslint-enable no-control-regex */
const LONE_SURROGATE = /\p{Cs}/u;

const clean = (s: z.ZodString, multiline: boolean) =>
  s
    .refine((v) => !LONE_SURROGATE.test(v), 'must be valid Unicode (a lone surrogate is not)')
    .refine(
      (v) => !(multiline ? CONTROL_BUT_NEWLINE : CONTROL).test(v),
      multiline ? 'must not hold control characters (a newline is allowed)' : 'must not hold control characters',
    );

/** One line of text, trimmed, 1..max characters. */
export const text = (max: number) => clean(z.string().trim().min(1).max(max), false);
/** Free text (a reason, a notice): newlines allowed, trimmed, 1..max characters. */
export const freeText = (max: number) => clean(z.string().trim().min(1).max(max), true);
/** An optional reason a caller may give (null or absent: none). */
export const reason = freeText(500).nullable().optional();

/** Ids of aggregates (in paths, bodies and events): ASCII letters, digits, "-", "_", ".", ":"; 1..128. */
export const ID_PATTERN = /^[\w.:-]{1,128}$/;
export const id = z.string().max(128).regex(ID_PATTERN, 'ids are 1 to 128 letters, digits, "-", "_", ".", ":"');

/** Tenant ids (token claim, X-Tenant-Id): lower-case letters, digits and "-", starting with a letter or digit; 1..64. */
export const tenantId = z
  .string()
  .max(64)
  .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'a tenant id is 1 to 64 lower-case letters, digits or "-"');

/** X-Correlation-Id: 1..128 printable ASCII characters without spaces. */
export const correlationId = z
  .string()
  .max(128)
  .regex(/^[\x21-\x7e]{1,128}$/, 'X-Correlation-Id is 1 to 128 printable ASCII characters without spaces');
/** Last-Event-ID (GET /stream): the id of a message the stream sent, digits (a safe integer). */
export const lastEventId = z.string().regex(/^\d{1,15}$/, 'Last-Event-ID is the id of a message the stream sent (digits)');
/** Idempotency-Key: 1..255 printable ASCII characters without spaces (a uuid is typical). */
export const idempotencyKey = z
  .string()
  .max(255)
  .regex(/^[\x21-\x7e]{1,255}$/, 'Idempotency-Key is 1 to 255 printable ASCII characters without spaces');
/** Aggregate versions (If-Match, expectedVersion): what an Avro int and a PostgreSQL integer hold. */
export const MAX_VERSION = 2_147_483_647;
export const ifMatch = z
  .string()
  .regex(/^(W\/)?"?\d{1,10}"?$/, 'If-Match must be a version number, e.g. "3"')
  .transform((v) => Number(v.replace(/^W\//, '').replace(/"/g, '')))
  .refine((v) => v <= MAX_VERSION, `If-Match is a version up to ${MAX_VERSION}`);

/** The body of a command without fields: `{}` or none at all. */
export const noBody = z.strictObject({});

/**
 * Money in integer minor units (fen) with an ISO 4217 code; never a float. The bound is far below what an Avro
 * long holds in JavaScript (avsc: ±(2^53 − 2)) and what a PostgreSQL bigint holds, so sums of amounts stay exact.
 */
export const MAX_MINOR_UNITS = 1_000_000_000_000;
export const money = z.strictObject({
  amount: z
    .number()
    .int('amount must be an integer number of minor units (fen)')
    .positive('amount must be positive')
    .max(MAX_MINOR_UNITS, `amount is at most ${MAX_MINOR_UNITS} minor units`),
  currency: z.string().regex(/^[A-Z]{3}$/, 'currency must be an ISO 4217 code such as CNY'),
});

export const deviceSpec = z.strictObject({
  cpuCores: z.number().int().min(1).max(64),
  memoryMb: z.number().int().min(512).max(262_144),
  storageGb: z.number().int().min(8).max(4096),
  androidVersion: z
    .string()
    .max(20)
    .regex(/^\d{1,3}(\.\d{1,3}){0,3}$/, 'androidVersion is a version number such as 13'),
});

/** The rate tiers a device can be on (their per-minute rates live with the billing read model). */
export const tier = z.enum(['basic', 'standard', 'premium']);
export const region = z
  .string()
  .max(32)
  .regex(/^[a-z]{2}-[a-z]{1,20}(-\d{1,3})?$/, 'region looks like cn-east or cn-north-1');

export const username = z
  .string()
  .trim()
  .regex(/^[\p{L}\p{N}_.-]{3,32}$/u, 'username is 3 to 32 letters, digits, "_", "." or "-"');
export const email = z.string().trim().toLowerCase().max(254).email('email is not a valid address');
export const phone = z
  .string()
  .trim()
  .regex(/^\+?[0-9 ()-]{5,20}$/, 'phone is 5 to 20 digits, optionally with +, spaces, dashes or parentheses');
export const appId = z
  .string()
  .max(255)
  .regex(/^[a-zA-Z]\w*(\.[a-zA-Z]\w*)+$/, 'appId is an Android package name such as com.tencent.mm');
export const paymentMethod = z.enum(['alipay', 'wechat', 'card', 'balance']);
/** A user's account status (a deleted user is no status: user.deleted). */
export const userStatus = z.enum(['active', 'suspended', 'banned']);

/**
 * The rule of every field of every event, by its name in the .avsc (nested records: `spec.cpuCores`). Routes take
 * their body fields from here; the event log checks each event against it before encoding.
 */
export const fields = {
  userId: id,
  deviceId: id,
  orderId: id,
  ownerId: id,
  planId: id,
  appId,
  appVersion: text(50),
  name: text(100),
  planName: text(100),
  title: text(100),
  content: freeText(2000),
  cause: text(100),
  reason: freeText(500),
  tier,
  region,
  spec: deviceSpec,
  'spec.cpuCores': deviceSpec.shape.cpuCores,
  'spec.memoryMb': deviceSpec.shape.memoryMb,
  'spec.storageGb': deviceSpec.shape.storageGb,
  'spec.androidVersion': deviceSpec.shape.androidVersion,
  amount: money,
  'amount.amount': money.shape.amount,
  'amount.currency': money.shape.currency,
  paymentMethod,
  paymentRef: text(128),
  username,
  previousUsername: username,
  email,
  previousEmail: email,
  phone,
  /** A reservation's normalised value: a username or an email. */
  value: text(254),
  kind: z.enum(['username', 'email']),
  status: userStatus,
  previousStatus: userStatus,
} as const;

/** The rules of the metadata every event carries (lib/event-log.ts EventEnvelope). */
export const envelope = {
  eventId: z.uuid(),
  type: z
    .string()
    .max(64)
    .regex(/^[a-z][a-z.-]{0,63}$/),
  aggregateId: id,
  aggregateVersion: z.number().int().min(1).max(MAX_VERSION),
  occurredAt: z.number().int().min(0).max(8_640_000_000_000_000),
  correlationId,
  causationId: correlationId.nullable(),
  tenantId: tenantId.nullable(),
} as const;
