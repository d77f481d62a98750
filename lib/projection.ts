import type { Knex } from 'knex';
import type { AnyEvent, EventEnvelope } from './event-log';
import { isRetriable } from './retry';
import type { AggregateName, Topics } from './topics';

/** A read-model row: column name → value, snake_case as in PostgreSQL. */
export type Row = Record<string, unknown>;

export interface TableSpec {
  /** The primary-key column (text). */
  readonly key: string;
  /**
   * A local copy of an aggregate other rows take redundant fields from (e.g. the users a device shows).
   * Rows it needs are created as placeholders and locked before a batch is applied, so a batch that reads
   * them and a batch that changes them never interleave, whatever the order of their topics.
   */
  readonly source?: { readonly placeholder: (key: string) => Row };
  /** Counter tables are only ever added to (commutative: two workers never lose an add). */
  readonly counters?: readonly string[];
  /**
   * Its changes are pushed to the clients who may see them (GET /stream, lib/change-feed.ts) as this kind of
   * message; the table has `tenant_id` and `user_id` columns.
   */
  readonly push?: string;
}

/** A user's fields copied onto every row of a table that carries them (ProjectionView.cascade). */
export interface Cascade {
  readonly table: string;
  readonly userId: string;
  readonly fields: Row;
}

/** What a batch wrote: the keys of the rows it put or added to, per table, and the user fields it cascaded. */
export interface Changed {
  readonly rows: Map<string, Set<string>>;
  readonly cascades: Cascade[];
}
export const nothingChanged = (): Changed => ({ rows: new Map(), cascades: [] });
const noteChanged = (into: Changed, table: string, keys: Iterable<string>) => {
  const set = into.rows.get(table) ?? new Set<string>();
  for (const k of keys) set.add(k);
  into.rows.set(table, set);
};
/** The rows a projection reads and writes while applying events, wherever they are stored. */
export interface ProjectionView {
  get<T extends Row>(table: string, key: string): T | undefined;
  put(table: string, row: Row): void;
  /** Adds `deltas` to a counter row, creating it from `base` (counters at zero) first. */
  add(table: string, base: Row, deltas: Readonly<Record<string, number>>): void;
  /** Sets `fields` on every row of `table` whose `user_id` is `userId` (redundant user fields). */
  cascade(table: string, userId: string, fields: Row): void;
}

/** The rows an event needs loaded (source rows created as placeholders first) before it is applied. */
export type Needs = Array<[table: string, key: string]>;

/**
 * A projection: a name, the topics it reads, its tables, and two pure functions — which rows an event needs
 * loaded, and how an event changes the rows. The same functions run against PostgreSQL in batches (the worker)
 * and against memory (the reference fold the tests compare with). Write one with `defineProjection`
 * (services/events.ts): its handler maps give the topics, `needs` and `apply`.
 */
export interface Projection {
  readonly name: string;
  topics(t: Topics): string[];
  readonly tables: Readonly<Record<string, TableSpec>>;
  needs(event: AnyEvent): Needs;
  apply(view: ProjectionView, event: AnyEvent): void;
}

/** What a projection does with one event type: the rows it needs loaded, and how it changes them. */
export interface EventHandler<E> {
  readonly needs: (e: E) => Needs;
  readonly apply: (view: ProjectionView, e: E) => void;
}

/** The handler of an event type a projection has decided to leave alone. */
export const IGNORE: EventHandler<unknown> = { needs: () => [], apply: () => undefined };

/** One handler for every event type of an aggregate: a new event type is a compile error until each map decides. */
export type HandlerMap<E extends EventEnvelope> = { readonly [K in E['type']]: EventHandler<Extract<E, { type: K }>> };

/** Per aggregate the projection reads, its handler map; the aggregates named are the topics it reads. */
export type HandlerMaps<Events extends Record<AggregateName, EventEnvelope>> = {
  readonly [A in AggregateName]?: HandlerMap<Events[A]>;
};

/**
 * Per-aggregate handler maps (of a projection or a policy) as the aggregates they name and one handler per event
 * type. The maps are typed per event type where they are written; dispatch by the decoded event's type is the same.
 */
export function byEventType<H>(on: Partial<Record<AggregateName, object>>): { aggregates: AggregateName[]; handlers: Map<string, H> } {
  const aggregates = Object.keys(on) as AggregateName[];
  return { aggregates, handlers: new Map(aggregates.flatMap((a) => Object.entries(on[a] as Record<string, H>))) };
}

/**
 * A projection from handler maps: it reads the event topics of the aggregates it has a map for, and an event
 * type it has no handler for (a type newer than this code) changes nothing.
 */
export function handlerProjection<Events extends Record<AggregateName, EventEnvelope>>(spec: {
  readonly name: string;
  readonly tables: Readonly<Record<string, TableSpec>>;
  readonly on: HandlerMaps<Events>;
}): Projection {
  const { aggregates, handlers } = byEventType<EventHandler<AnyEvent>>(spec.on);
  return {
    name: spec.name,
    tables: spec.tables,
    topics: (t) => aggregates.map((a) => t[a].events),
    needs: (e) => handlers.get(e.type)?.needs(e) ?? [],
    apply: (view, e) => handlers.get(e.type)?.apply(view, e),
  };
}

/** The in-memory store: every row of every table, for the reference fold. */
export function memoryStore(projection: Projection) {
  const tables = new Map<string, Map<string, Row>>(Object.keys(projection.tables).map((t) => [t, new Map()]));
  const table = (t: string) => {
    const m = tables.get(t);
    if (!m) throw new Error(`${projection.name}: no table ${t}`);
    return m;
  };
  const view: ProjectionView = {
    get: <T extends Row>(t: string, key: string) => table(t).get(key) as T | undefined,
    put: (t, row) => void table(t).set(String(row[projection.tables[t]!.key]), { ...row }),
    add: (t, base, deltas) => {
      const key = String(base[projection.tables[t]!.key]);
      const row = { ...(table(t).get(key) ?? base) };
      for (const [c, d] of Object.entries(deltas)) row[c] = Number(row[c] ?? 0) + d;
      table(t).set(key, row);
    },
    cascade: (t, userId, fields) => {
      for (const [k, row] of table(t)) if (row.user_id === userId) table(t).set(k, { ...row, ...fields });
    },
  };
  return {
    apply(event: AnyEvent): void {
      for (const [t, key] of projection.needs(event)) {
        const spec = projection.tables[t]!;
        if (spec.source && !table(t).has(key)) table(t).set(key, spec.source.placeholder(key));
      }
      projection.apply(view, event);
    },
    rows: (t: string): Row[] =>
      [...table(t).values()].sort((a, b) => String(a[projection.tables[t]!.key]).localeCompare(String(b[projection.tables[t]!.key]))),
  };
}

/**
 * Applies a batch of events to PostgreSQL inside the given transaction: loads (and locks) the rows the events
 * need in one query per table, applies the events in memory, then writes every changed row with one multi-row
 * upsert per table, the counter additions, and the cascades. Returns the keys of the rows it wrote and the
 * cascades it made.
 */
export async function applyBatch(trx: Knex.Transaction, projection: Projection, events: readonly AnyEvent[]): Promise<Changed> {
  const needed = new Map<string, Set<string>>();
  for (const e of events) for (const [t, key] of projection.needs(e)) needed.set(t, (needed.get(t) ?? new Set()).add(key));

  const loaded = new Map<string, Map<string, Row>>();
  for (const [t, keySet] of [...needed].sort(([a], [b]) => a.localeCompare(b))) {
    const spec = projection.tables[t]!;
    const keys = [...keySet].sort();
    if (spec.source) {
      await trx(t)
        .insert(keys.map((k) => spec.source!.placeholder(k)))
        .onConflict(spec.key)
        .ignore();
    }
    const rows = (await trx(t).whereIn(spec.key, keys).orderBy(spec.key).forUpdate()) as Row[];
    loaded.set(t, new Map(rows.map((r) => [String(r[spec.key]), r])));
  }

  const dirty = new Map<string, Map<string, Row>>();
  const adds = new Map<string, Map<string, { base: Row; deltas: Record<string, number> }>>();
  const cascades: Cascade[] = [];
  const view: ProjectionView = {
    get: <T extends Row>(t: string, key: string) => (dirty.get(t)?.get(key) ?? loaded.get(t)?.get(key)) as T | undefined,
    put: (t, row) => {
      const key = String(row[projection.tables[t]!.key]);
      if (!dirty.has(t)) dirty.set(t, new Map());
      dirty.get(t)!.set(key, { ...row });
    },
    add: (t, base, deltas) => {
      const key = String(base[projection.tables[t]!.key]);
      if (!adds.has(t)) adds.set(t, new Map());
      const entry = adds.get(t)!.get(key) ?? { base, deltas: {} };
      for (const [c, d] of Object.entries(deltas)) entry.deltas[c] = (entry.deltas[c] ?? 0) + d;
      adds.get(t)!.set(key, entry);
    },
    cascade: (t, userId, fields) => cascades.push({ table: t, userId, fields }),
  };
  for (const e of events) projection.apply(view, e);

  for (const [t, rows] of dirty) {
    await trx(t)
      .insert([...rows.values()])
      .onConflict(projection.tables[t]!.key)
      .merge();
  }
  for (const [t, entries] of adds) {
    const spec = projection.tables[t]!;
    const rows = [...entries.values()].map(({ base, deltas }) => ({ ...base, ...deltas }));
    const counters = spec.counters ?? [];
    await trx(t)
      .insert(rows)
      .onConflict(spec.key)
      .merge(Object.fromEntries(counters.map((c) => [c, trx.raw('??.?? + excluded.??', [t, c, c])])));
  }
  // The last cascade per (table, user) carries the user's final fields.
  const last = new Map(cascades.map((c) => [`${c.table}\0${c.userId}`, c]));
  for (const c of last.values()) await trx(c.table).where('user_id', c.userId).update(c.fields);
  const changed: Changed = { rows: new Map(), cascades: [...last.values()] };
  for (const [t, rows] of [...dirty, ...adds]) noteChanged(changed, t, rows.keys());
  return changed;
}

/**
 * The fallback of a batch that failed: applies the events one at a time, each in a savepoint of `trx`, and returns
 * those that still fail, with their errors — the projection worker dead-letters them, the rebuild counts them. A
 * transient failure (the database going away) is not an event's fault: it is thrown, for the whole batch to be
 * retried.
 */
export async function applyOneByOne<T extends { readonly event: AnyEvent }>(
  trx: Knex.Transaction,
  projection: Projection,
  items: readonly T[],
): Promise<{ failed: Array<{ item: T; error: Error }>; changed: Changed }> {
  const failed: Array<{ item: T; error: Error }> = [];
  const changed = nothingChanged();
  for (const item of items) {
    try {
      const one = await trx.transaction((sp) => applyBatch(sp, projection, [item.event]));
      for (const [t, k] of one.rows) noteChanged(changed, t, k);
      changed.cascades.push(...one.cascades);
    } catch (err) {
      if (isRetriable(err)) throw err;
      failed.push({ item, error: err as Error });
    }
  }
  return { failed, changed };
}
