import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createDb, migrate } from '../lib/db';
import type { DecodedRecord } from '../lib/event-log';
import { memoryStore } from '../lib/projection';
import { CHECKPOINTS, createProjectionWorker } from '../lib/projection-worker';
import { PROJECTIONS } from '../platform/read-side';
import { readModel } from '../test/projection-harness';
import { unique } from '../test/support';
import { anomalyLines, checkHistory, type Anomalies } from './history';
import type { Load, Outcome } from './load';
import { FULL, type FaultPlatform } from './platform';

/**
 * The fault suite's books and report (faults/harness.ts runs the scenarios): the topics checked against the
 * client's record of the load, the read models against the topics, and the report each scenario prints, writes
 * and asserts.
 */

// ---------------------------------------------------------------------------------------------------------------
// the books

/** The history checker's findings (faults/history.ts), the reservation claims, and the read models against the topics. */
export interface Books extends Anomalies {
  reservationsExpected: number;
  reservationsFound: number;
  readModels: Record<
    string,
    { live: 'equal' | string; fold: 'equal' | string; rebuild: 'equal' | string; appliedOnce: 'equal' | string; deadLetters: number }
  >;
}

const describeDiff = (a: Record<string, unknown[]>, b: Record<string, unknown[]>): 'equal' | string => {
  const diffs: string[] = [];
  for (const t of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = JSON.stringify(a[t] ?? []);
    const y = JSON.stringify(b[t] ?? []);
    if (x !== y) diffs.push(`${t}: ${(a[t] ?? []).length} vs ${(b[t] ?? []).length} rows differ`);
  }
  return diffs.length === 0 ? 'equal' : diffs.join('; ');
};

/** Rebuilds every read model from offset 0 of the topics into a fresh schema (fresh consumer groups), and reads it. */
async function rebuild(fp: FaultPlatform): Promise<Record<string, Record<string, unknown[]>>> {
  const schema = `${fp.schema}_rebuild`;
  const db = createDb(fp.cfg.database.url, { schema, poolMax: 4 });
  await migrate(db, schema);
  const workers = Object.values(PROJECTIONS).map((projection) =>
    createProjectionWorker({
      kafka: fp.it.kafka,
      db,
      eventLog: fp.it.eventLog,
      projection,
      topics: projection.topics(fp.topics),
      deadLetterTopic: fp.topics.deadLetters,
      groupId: unique(`${fp.namespace}.rebuild.${projection.name}`),
      logger: fp.it.logger,
    }),
  );
  try {
    await Promise.all(workers.map((w) => w.start()));
    for (const p of Object.values(PROJECTIONS)) await fp.caughtUp(p, db);
    const out: Record<string, Record<string, unknown[]>> = {};
    for (const p of Object.values(PROJECTIONS)) out[p.name] = await readModel(db, p);
    return out;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await db.raw('drop schema if exists ?? cascade', [schema]);
    await db.destroy();
  }
}

/**
 * Checks the topics against the client's record of the load (the history checker, faults/history.ts: every
 * acknowledged command's events committed exactly once and whole, none only in an aborted transaction, nothing
 * committed that no acknowledged command wrote, per-aggregate versions 1..N).
 */
export async function checkTopics(fp: FaultPlatform, load: Load): Promise<{ anomalies: Anomalies; byTopic: Map<string, DecodedRecord[]> }> {
  const t = fp.topics;
  const topics = [t.user.events, t.device.events, t.order.events, t.notification.events, t.appInstall.events, t.reservation.events];
  const byTopic = new Map<string, DecodedRecord[]>();
  const uncommitted = new Map<string, DecodedRecord[]>();
  for (const topic of topics) {
    byTopic.set(topic, await fp.records(topic));
    uncommitted.set(topic, await fp.it.readAll(topic, { readUncommitted: true }));
  }
  const anomalies = checkHistory(load.commands, {
    committed: byTopic,
    uncommitted,
    // The reservation claims the user route makes are not in its answer; a seeded log is not the load's.
    notTheClients: (r) => r.topic === t.reservation.events || fp.isPrior(r),
  });
  for (const line of anomalyLines(anomalies).slice(0, 50)) console.log(`history: ${line}`);
  return { anomalies, byTopic };
}

/**
 * Checks the books after a scenario: the history (checkTopics), the reservation claims, and every read model
 * against the pure fold of the topics and a fresh rebuild from them, with each event applied once.
 */
export async function checkBooks(fp: FaultPlatform, load: Load): Promise<Books> {
  const t = fp.topics;
  const { anomalies, byTopic } = await checkTopics(fp, load);
  const users = load.commands.filter((c) => c.method === 'POST' && c.path === '/users' && c.final && c.final.status < 300).length;

  const readModels: Books['readModels'] = {};
  const rebuilt = await rebuild(fp);
  for (const p of Object.values(PROJECTIONS)) {
    const store = memoryStore(p);
    const mine = p.topics(t);
    for (const topic of mine) for (const r of byTopic.get(topic) ?? (await fp.records(topic))) store.apply(r.event);
    const fold = Object.fromEntries(Object.keys(p.tables).map((table) => [table, store.rows(table)]));
    const live = await readModel(fp.db, p);
    const sums = (await fp.db(CHECKPOINTS).where({ projection: p.name }).sum({ n: 'applied_events', d: 'dead_letters' }).first()) as
      { n: number | null; d: number | null } | undefined;
    const applied = Number(sums?.n ?? 0);
    const expected = mine.reduce((n, topic) => n + (byTopic.get(topic)?.length ?? 0), 0);
    readModels[p.name] = {
      live: `${Object.values(live).reduce((n, rows) => n + rows.length, 0)} rows`,
      fold: describeDiff(live, fold),
      rebuild: describeDiff(live, rebuilt[p.name]!),
      appliedOnce: applied === expected ? 'equal' : `${applied} applied for ${expected} events`,
      deadLetters: Number(sums?.d ?? 0),
    };
  }
  return {
    ...anomalies,
    reservationsExpected: 2 * users,
    reservationsFound: byTopic.get(t.reservation.events)!.length,
    readModels,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// the report

export interface Report {
  scenario: string;
  fault: string;
  full: boolean;
  lanes: number;
  commands: {
    sent: number;
    acknowledged: number;
    failedAttempts: number;
    retried: number;
    rejected4xx: number;
    replayedAfterFailure: number;
    executedOnRetry: number;
  };
  attempts: Record<string, number>;
  queries: Record<string, number>;
  answers503WithoutRetryAfter: number;
  recovery: Record<string, string>;
  unexpectedExits: string[];
  books: Books;
  durationS: number;
}

const outcomeKey = (o: Outcome) => (typeof o === 'number' ? (o < 300 ? '2xx' : String(o)) : o);

export function makeReport(
  fp: FaultPlatform,
  load: Load,
  books: Books,
  fault: string,
  recovery: Record<string, number | string>,
  started: number,
): Report {
  const cmds = load.commands;
  const attempts = cmds.flatMap((c) => c.attempts);
  const count = (xs: Outcome[]) =>
    xs.reduce<Record<string, number>>((m, o) => ({ ...m, [outcomeKey(o)]: (m[outcomeKey(o)] ?? 0) + 1 }), {});
  const failedFirst = cmds.filter((c) => c.attempts.length > 1);
  return {
    scenario: fp.scenario,
    fault,
    full: FULL,
    lanes: new Set(cmds.map((c) => c.lane)).size,
    commands: {
      sent: cmds.length,
      acknowledged: cmds.filter((c) => c.final && c.final.status < 300).length,
      failedAttempts: attempts.filter((a) => !(typeof a.outcome === 'number' && a.outcome < 300)).length,
      retried: failedFirst.length,
      rejected4xx: cmds.filter((c) => c.final && c.final.status >= 400).length,
      replayedAfterFailure: failedFirst.filter((c) => c.final?.replayed).length,
      executedOnRetry: failedFirst.filter((c) => c.final && !c.final.replayed).length,
    },
    attempts: count(attempts.map((a) => a.outcome)),
    queries: count(load.queries.map((q) => q.outcome)),
    answers503WithoutRetryAfter:
      attempts.filter((a) => a.outcome === 503 && !a.retryAfter).length +
      load.queries.filter((q) => q.outcome === 503 && !q.retryAfter).length,
    recovery: Object.fromEntries(Object.entries(recovery).map(([k, v]) => [k, typeof v === 'number' ? `${(v / 1000).toFixed(1)}s` : v])),
    unexpectedExits: [...fp.unexpectedExits],
    books,
    durationS: Math.round((Date.now() - started) / 1000),
  };
}

/** Prints the report and writes it to `<STACK_DIR>/faults/<scenario>.json`. */
export function publish(fp: FaultPlatform, report: Report): string {
  const dir = path.join(fp.stack.cfg.dir, 'faults');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${report.scenario}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`fault report (${file}):\n${JSON.stringify(report, null, 2)}`);
  return file;
}

/** The assertions every scenario makes on its report. */
export function expectSound(report: Report, opts: { connectionErrorsExpected?: boolean } = {}): void {
  const { books } = report;
  expect(report.unexpectedExits).toEqual([]);
  expect(report.commands.acknowledged).toBe(report.commands.sent);
  expect(report.commands.rejected4xx).toBe(0);
  expect(report.attempts.hang ?? 0).toBe(0);
  expect(report.queries.hang ?? 0).toBe(0);
  const serverErrors = Object.entries({ ...report.attempts }).filter(([k]) => /^5\d\d$/.test(k) && k !== '503');
  const queryErrors = Object.entries({ ...report.queries }).filter(([k]) => /^5\d\d$/.test(k) && k !== '503');
  expect([...serverErrors, ...queryErrors]).toEqual([]);
  expect(report.answers503WithoutRetryAfter).toBe(0);
  if (!opts.connectionErrorsExpected) {
    expect(report.attempts['conn-error'] ?? 0).toBe(0);
    expect(report.queries['conn-error'] ?? 0).toBe(0);
  }
  expect(anomalyLines(books)).toEqual([]);
  expect(books.reservationsFound).toBe(books.reservationsExpected);
  for (const [name, m] of Object.entries(books.readModels)) {
    expect({ name, fold: m.fold, rebuild: m.rebuild, appliedOnce: m.appliedOnce, deadLetters: m.deadLetters }).toEqual({
      name,
      fold: 'equal',
      rebuild: 'equal',
      appliedOnce: 'equal',
      deadLetters: 0,
    });
  }
}
