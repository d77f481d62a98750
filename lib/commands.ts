import { z } from 'zod';
import { actorSchema } from './auth';
import type { CommandMeta } from './decider';

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

export const commandMessageSchema = z.object({
  commandId: z.string().min(1),
  aggregateId: z.string().min(1),
  tenantId: z.string().nullable(),
  correlationId: z.string().min(1),
  causationId: z.string().nullable(),
  now: z.number().int(),
  expectedVersion: z.number().int().min(0).optional(),
  actor: actorSchema.nullable().optional(),
  type: z.string().min(1),
  payload: z.record(z.string(), z.unknown()),
  replyTo: z.string().min(1),
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
