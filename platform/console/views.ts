import { z } from 'zod';
import { AGGREGATE_NAMES } from '../../lib/topics';
import { partitionStatusView } from '../../projections/routes';

/**
 * What the console's JSON API answers: the zod schemas of the OpenAPI document, and the types the page's script
 * reads them with (it imports only types from here: nothing of the server is bundled).
 */
const timestamp = z.iso.datetime();
const count = z.number().int().min(0);
const offset = z.string().regex(/^-?\d+$/);
export const topicsView = z.object({
  topics: z.array(
    z.object({
      name: z.string(),
      kind: z.string(),
      aggregate: z.enum(AGGREGATE_NAMES).nullable(),
      partitions: z.array(z.object({ partition: count, low: count, high: count })),
      offsets: count,
      sizeBytes: z.null().meta({ description: 'Not available: kafkajs has no DescribeLogDirs' }),
    }),
  ),
});

export const projectionsView = z.object({
  now: timestamp,
  projections: z.array(
    z.object({
      projection: z.string(),
      lag: count,
      lagSeconds: count.nullable().meta({ description: 'Age of the last applied event where a partition is behind; 0 when caught up' }),
      lastEventAt: timestamp.nullable(),
      appliedEvents: count,
      deadLetters: count,
      partitions: z.array(partitionStatusView.extend({ lagSeconds: count.nullable() })),
    }),
  ),
});

export const historyView = z.object({
  aggregate: z.enum(AGGREGATE_NAMES),
  id: z.string(),
  topic: z.string(),
  partition: count,
  total: count,
  events: z.array(
    z.object({
      partition: count,
      offset,
      timestamp,
      type: z.string().nullable(),
      version: count.nullable(),
      eventId: z.string().nullable(),
      occurredAt: timestamp.nullable(),
      schemaId: z.number().int().nullable(),
      correlationId: z.string().nullable(),
      causationId: z.string().nullable(),
      commandId: z.string().nullable().meta({ description: 'The command that appended the event (header command-id)' }),
      tenantId: z.string().nullable(),
      payload: z.record(z.string(), z.unknown()).nullable(),
      error: z.string().nullable(),
    }),
  ),
});

export const deadLettersView = z.object({
  deadLetters: z.array(
    z.object({
      side: z.enum(['projection', 'command']),
      topic: z.string(),
      partition: count,
      offset,
      timestamp,
      key: z.string().nullable(),
      projection: z.string().nullable(),
      error: z.string(),
      errorCode: z.string().nullable(),
      type: z.string().nullable(),
      commandId: z.string().nullable(),
      source: z.object({ topic: z.string().nullable(), partition: count.nullable(), offset: z.string().nullable() }),
      value: z.string(),
    }),
  ),
});

export const schemasView = z.object({ subjects: z.array(z.object({ subject: z.string(), versions: z.array(z.number().int()) })) });

export const rebuildsView = z.object({
  rebuilds: z.array(
    z.object({
      projection: z.string(),
      shadowSchema: z.string(),
      startedAt: timestamp,
      updatedAt: timestamp.nullable(),
      state: z.enum(['replaying', 'idle']),
      done: count,
      total: count,
      appliedEvents: count,
      etaSeconds: count.nullable(),
    }),
  ),
});

const redriveOutcome = z.enum(['applied', 'unchanged', 'failed', 'already-applied', 'not-reached', 'would-redrive']);
export const redriveView = z.object({
  projection: z.string(),
  dryRun: z.boolean(),
  items: z.array(
    z.object({
      deadLetter: z.object({ partition: count, offset: z.string() }),
      source: z.object({ topic: z.string(), partition: count, offset: z.string() }).optional(),
      eventType: z.string().optional(),
      aggregateId: z.string().optional(),
      outcome: redriveOutcome,
      error: z.string().optional(),
      deadLetterError: z.string().optional(),
    }),
  ),
  counts: z.record(redriveOutcome, count),
});

export type TopicsView = z.infer<typeof topicsView>;
export type ProjectionsView = z.infer<typeof projectionsView>;
export type HistoryView = z.infer<typeof historyView>;
export type DeadLettersView = z.infer<typeof deadLettersView>;
export type SchemasView = z.infer<typeof schemasView>;
export type RebuildsView = z.infer<typeof rebuildsView>;
export type RedriveView = z.infer<typeof redriveView>;
