import type { DecodedRecord } from '../lib/event-log';

/**
 * The history checker, in the spirit of Jepsen's Kafka workload: from the client's own record of what it sent and
 * what it was answered, and an independent read of the topics — once with read_committed (what every consumer
 * sees) and once with read_uncommitted (everything written, aborted transactions included) — it lists every
 * anomaly it finds. Pure: no I/O, so it is tested on hand-made histories (faults/history.unit.spec.ts) as well as
 * on the fault suite's real ones.
 */

/** One command as the client saw it: its answer, if it got a definitive one. */
export interface ClientCommand {
  readonly key: string;
  readonly method: string;
  readonly path: string;
  /** The final answer: 2xx with the event ids the command wrote, 4xx, or none (never answered). */
  readonly final?: { readonly status: number; readonly body: Readonly<Record<string, unknown>> };
}

export interface TopicRead {
  /** The domain event topics, read with read_committed. */
  readonly committed: ReadonlyMap<string, readonly DecodedRecord[]>;
  /** The same topics, read with read_uncommitted. */
  readonly uncommitted: ReadonlyMap<string, readonly DecodedRecord[]>;
  /**
   * Records the client's commands did not write — a log seeded before the history began, the reservation
   * claims the user route makes: checked for duplicates and versions, never counted as unexplained.
   */
  readonly notTheClients?: (r: DecodedRecord) => boolean;
}

export interface Anomalies {
  /** Committed records read. */
  readonly events: number;
  /** Records only read_uncommitted sees: events of aborted transactions (expected after faults; never acknowledged). */
  readonly abortedEvents: number;
  /** An event id committed more than once. */
  readonly duplicateEventIds: string[];
  /** An aggregate whose committed versions, in log order, are not 1, 2, … N. */
  readonly versionGaps: string[];
  /** An acknowledged event that is not committed. */
  readonly acknowledgedMissing: string[];
  /** An acknowledged command of which some events are committed and some are not. */
  readonly halfVisible: string[];
  /** An acknowledged event found only in an aborted transaction (the client was told yes for a write that was undone). */
  readonly abortedAcknowledged: string[];
  /** A committed event that no acknowledged command wrote (a failed or unanswered command left something behind). */
  readonly unexplained: string[];
}

/** The anomaly lists that must be empty for a sound history. */
export const ANOMALY_KINDS = [
  'duplicateEventIds',
  'versionGaps',
  'acknowledgedMissing',
  'halfVisible',
  'abortedAcknowledged',
  'unexplained',
] as const satisfies ReadonlyArray<keyof Anomalies>;

const position = (r: DecodedRecord) => `${r.topic}/${r.partition}@${r.offset}`;
const describe = (r: DecodedRecord) => `${r.event.type} ${r.event.eventId} (${position(r)} v${r.event.aggregateVersion})`;

/** Event ids an acknowledged command's answer names (the command API answers `eventIds`). */
const eventIdsOf = (c: ClientCommand): string[] =>
  c.final && c.final.status < 300 && Array.isArray(c.final.body.eventIds) ? (c.final.body.eventIds as string[]) : [];

export function checkHistory(commands: readonly ClientCommand[], read: TopicRead): Anomalies {
  const notTheClients = read.notTheClients ?? (() => false);
  const committed = [...read.committed.values()].flat();
  const committedAt = new Set(committed.map(position));

  const seen = new Map<string, DecodedRecord>();
  const duplicateEventIds: string[] = [];
  for (const r of committed) {
    const first = seen.get(r.event.eventId);
    if (first) duplicateEventIds.push(`${describe(r)} is also at ${position(first)}`);
    else seen.set(r.event.eventId, r);
  }

  const versionGaps: string[] = [];
  for (const [topic, records] of read.committed) {
    const versions = new Map<string, number[]>();
    const inLogOrder = [...records].sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
    for (const r of inLogOrder) versions.set(r.event.aggregateId, [...(versions.get(r.event.aggregateId) ?? []), r.event.aggregateVersion]);
    for (const [id, vs] of versions) if (vs.some((v, i) => v !== i + 1)) versionGaps.push(`${topic} ${id}: ${vs.join(',')}`);
  }

  const aborted = [...read.uncommitted.values()].flat().filter((r) => !committedAt.has(position(r)));
  const abortedById = new Map(aborted.map((r) => [r.event.eventId, r]));

  const acknowledged = new Set<string>();
  const acknowledgedMissing: string[] = [];
  const halfVisible: string[] = [];
  const abortedAcknowledged: string[] = [];
  for (const c of commands) {
    const ids = eventIdsOf(c);
    ids.forEach((id) => acknowledged.add(id));
    const missing = ids.filter((id) => !seen.has(id));
    for (const id of missing) {
      acknowledgedMissing.push(`${c.method} ${c.path} [${c.key}]: event ${id}`);
      const undone = abortedById.get(id);
      if (undone) abortedAcknowledged.push(`${c.method} ${c.path} [${c.key}]: ${describe(undone)}`);
    }
    if (missing.length > 0 && missing.length < ids.length)
      halfVisible.push(`${c.method} ${c.path} [${c.key}]: ${ids.length - missing.length} of ${ids.length} events committed`);
  }

  const unexplained = committed.filter((r) => !notTheClients(r) && !acknowledged.has(r.event.eventId)).map(describe);
  return {
    events: committed.length,
    abortedEvents: aborted.length,
    duplicateEventIds,
    versionGaps,
    acknowledgedMissing,
    halfVisible,
    abortedAcknowledged,
    unexplained,
  };
}

/** Every anomaly, one line each (empty for a sound history). */
export const anomalyLines = (a: Anomalies): string[] => ANOMALY_KINDS.flatMap((k) => a[k].map((line) => `${k}: ${line}`));
