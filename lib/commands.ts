import { z } from 'zod';
import { actorSchema } from './auth';
import type { CommandMeta } from './decider';
import { correlationId, id, MAX_VERSION, tenantId } from './validation';

/**
 * The messages between the API and the command processors (JSON: they are requests, not domain changes).
 * A command goes to its aggregate's command topic, keyed by the aggregate id; the reply goes to the reply
 * topic, keyed by the API instance that waits for it.
 */
export interface CommandMessage extends CommandMeta {
  readonly type: string;
  readonly payload: Readonly<Record<string, unknown>>;
  /** Id of the API instance waiting for the reply. */
  readonly replyTo: string;
}

/**
 * What a command processor accepts from its topic; anything else is refused (a reply when it can be addressed,
 * and the command dead-letter topic either way). The payload's fields are the decider's and the encoder's to judge.
 */
export const commandMessageSchema = z.object({
  commandId: correlationId,
  aggregateId: id,
  tenantId: tenantId.nullable(),
  correlationId,
  causationId: correlationId.nullable(),
  now: z.number().int().min(0).max(8_640_000_000_000_000),
  expectedVersion: z.number().int().min(0).max(MAX_VERSION).optional(),
  actor: actorSchema.nullable().optional(),
  requestHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  type: z.string().min(1).max(64),
  payload: z.record(z.string(), z.unknown()),
  replyTo: z.string().min(1).max(256),
});

/** Where the last event of a command sits: what a query waits for to read its own write. */
export interface Position {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export type Reply =
  | {
      readonly commandId: string;
      readonly ok: true;
      readonly aggregateId: string;
      readonly version: number;
      readonly eventIds: readonly string[];
      /** True when the command had been applied before (a retry): nothing new was appended. */
      readonly duplicate: boolean;
      readonly position: Position | null;
    }
  | {
      readonly commandId: string;
      readonly ok: false;
      readonly aggregateId: string;
      readonly status: number;
      readonly code: string;
      readonly message: string;
      readonly details: Readonly<Record<string, unknown>>;
    };

/** A reply as it arrives on the reply topic (anyone who can write there could send anything). */
export const replySchema = z.union([
  z.object({
    commandId: z.string(),
    ok: z.literal(true),
    aggregateId: z.string(),
    version: z.number().int(),
    eventIds: z.array(z.string()),
    duplicate: z.boolean(),
    position: z.object({ topic: z.string(), partition: z.number().int(), offset: z.string() }).nullable(),
  }),
  z.object({
    commandId: z.string(),
    ok: z.literal(false),
    aggregateId: z.string(),
    status: z.number().int().min(400).max(599),
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
  }),
]);
