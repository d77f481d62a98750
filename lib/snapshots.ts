import { createHash } from 'node:crypto';
import type { Message } from 'kafkajs';
import type { Decider } from './decider';
import type { EventEnvelope } from './event-log';
import { isSealed } from './pii';

/**
 * The snapshot changelog of an aggregate type (issue 14): a compacted topic co-partitioned with its command and
 * event topics, written by the aggregate's single writer in the same Kafka transaction as the events. Per
 * partition it holds the latest snapshot of every aggregate (key = aggregate id) and one watermark (key
 * `#watermark`, which no aggregate id can be: ids take no "#"). A processor that takes a partition over reads its
 * snapshots, then only the events past the watermark.
 *
 * Values are JSON. A snapshot is trusted only when its state fingerprint is the decider's (see `stateFingerprint`);
 * anything else — another fingerprint, another record format, a value that does not parse — makes the processor
 * fold the partition from its events and write fresh snapshots.
 */
export const SNAPSHOT_FORMAT = 1;
export const WATERMARK_KEY = '#watermark';

/** What a writer remembers of a command it applied (to answer a retry with the first result). */
export interface Applied {
  /** The aggregate's version after the command. */
  readonly version: number;
  /** How many events it appended (their ids follow from the command id: lib/decider.ts `eventIdFor`). */
  readonly events: number;
  /** The offset of its last event in the aggregate's event partition (null: appended nothing). */
  readonly offset: string | null;
  /** The digest of the request that sent it (lib/http.ts), when it came with an Idempotency-Key. */
  readonly requestHash?: string;
}

/** One aggregate as its writer holds it. */
export interface Slot<S> {
  readonly state: S;
  readonly version: number;
  /** The tenant of the aggregate (of its first event); null while it does not exist. */
  readonly tenantId: string | null;
  /** The offset of the aggregate's last event in its event partition (null before it has one). */
  readonly offset: string | null;
  /** The last commands applied to the aggregate, by command id, oldest first (bounded). */
  readonly applied: ReadonlyMap<string, Applied>;
}

/** How far a partition's snapshots reach: every event before `offset` is in the snapshot of its aggregate. */
export interface Watermark {
  readonly offset: bigint;
  /**
   * True when written with the events of a command batch: the record at `offset` is then that transaction's
   * commit marker, and a partition whose end is `offset + 1` has nothing past the snapshots.
   */
  readonly marker: boolean;
}

/** The `applied` of an aggregate that remembers no command, shared (most aggregates of a long log are such). */
export const NOTHING_APPLIED: ReadonlyMap<string, Applied> = new Map();

type AppliedRow = [commandId: string, version: number, events: number, offset: string | null, requestHash: string | null];

/**
 * The fingerprint of a decider's state: its declared `stateVersion`, the source of its `evolve` and its initial
 * state. A change to any of them makes older snapshots untrusted. (A helper that `evolve` calls is not in its
 * source: changing one is what `stateVersion` is bumped for.)
 */
export function stateFingerprint(decider: Decider<{ type: string }, EventEnvelope, unknown>): string {
  return createHash('sha256')
    .update(`${decider.stateVersion ?? 0}\n${decider.evolve.toString()}\n${JSON.stringify(decider.initialState)}`)
    .digest('hex')
    .slice(0, 16);
}

export function snapshotMessage<S>(partition: number, fingerprint: string, aggregateId: string, slot: Slot<S>): Message {
  const applied: AppliedRow[] = [...slot.applied].map(([id, a]) => [id, a.version, a.events, a.offset, a.requestHash ?? null]);
  return {
    key: aggregateId,
    partition,
    value: JSON.stringify({
      format: SNAPSHOT_FORMAT,
      fingerprint,
      aggregateId,
      tenantId: slot.tenantId,
      version: slot.version,
      offset: slot.offset,
      state: slot.state,
      applied,
    }),
  };
}

export function watermarkMessage(partition: number, fingerprint: string, mark: Watermark): Message {
  return {
    key: WATERMARK_KEY,
    partition,
    value: JSON.stringify({ format: SNAPSHOT_FORMAT, fingerprint, offset: mark.offset.toString(), marker: mark.marker }),
  };
}

/** A record of the changelog as read back: a snapshot, the watermark, or `stale` (not made by this decider's state). */
export type ChangelogEntry<S> =
  | { readonly kind: 'snapshot'; readonly aggregateId: string; readonly slot: Slot<S> }
  | { readonly kind: 'watermark'; readonly mark: Watermark }
  | { readonly kind: 'stale'; readonly why: string };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isVersion = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;
const isOffset = (v: unknown): v is string => typeof v === 'string' && /^\d{1,19}$/.test(v);
/** A remembered command as written by `snapshotMessage`; anything else makes the snapshot untrusted. */
const isAppliedRow = (r: unknown): r is AppliedRow =>
  Array.isArray(r) &&
  r.length === 5 &&
  typeof r[0] === 'string' &&
  isVersion(r[1]) &&
  Number.isSafeInteger(r[2]) &&
  (r[2] as number) >= 0 &&
  (r[3] === null || isOffset(r[3])) &&
  (r[4] === null || typeof r[4] === 'string');

export function readChangelogRecord<S>(key: string | undefined, value: Buffer | null, fingerprint: string): ChangelogEntry<S> {
  let json: unknown;
  try {
    json = JSON.parse(value?.toString('utf8') ?? '');
  } catch {
    return { kind: 'stale', why: 'a value that is not JSON' };
  }
  if (!isRecord(json) || json.format !== SNAPSHOT_FORMAT) return { kind: 'stale', why: 'another record format' };
  if (json.fingerprint !== fingerprint) return { kind: 'stale', why: `state fingerprint ${String(json.fingerprint)}, not ${fingerprint}` };
  if (key === WATERMARK_KEY) {
    if (!isOffset(json.offset)) return { kind: 'stale', why: 'a watermark without an offset' };
    return { kind: 'watermark', mark: { offset: BigInt(json.offset), marker: json.marker === true } };
  }
  const { aggregateId, tenantId, version, state, applied, offset } = json;
  // A state holding personal data is sealed (lib/pii.ts): the processor opens it.
  const stateOk = isRecord(state) || isSealed(state);
  if (typeof aggregateId !== 'string' || aggregateId !== key || !isVersion(version) || !stateOk || !Array.isArray(applied)) {
    return { kind: 'stale', why: 'a snapshot without its aggregate id, version, state or commands' };
  }
  if (!applied.every(isAppliedRow) || (offset !== null && !isOffset(offset))) {
    return { kind: 'stale', why: 'a snapshot whose commands or offset are malformed' };
  }
  const remembered = applied.length === 0 ? NOTHING_APPLIED : new Map<string, Applied>();
  for (const [id, v, events, at, requestHash] of applied) {
    (remembered as Map<string, Applied>).set(id, { version: v, events, offset: at, ...(requestHash ? { requestHash } : {}) });
  }
  return {
    kind: 'snapshot',
    aggregateId,
    slot: {
      state: state as S,
      version: version as number,
      tenantId: typeof tenantId === 'string' ? tenantId : null,
      offset: typeof offset === 'string' ? offset : null,
      applied: remembered,
    },
  };
}
