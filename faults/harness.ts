import type { TopicLayout } from '../lib/bootstrap';
import type { Db } from '../lib/db';
import { CHECKPOINTS } from '../lib/projection-worker';
import { sleep, waitFor } from '../lib/wait';
import { PROJECTIONS } from '../platform/read-side';
import { up, type Stack } from '../scripts/stack/index';
import { isAlive } from '../scripts/stack/processes';
import { checkBooks, checkTopics, expectSound, makeReport, publish, type Books, type Report } from './books';
import { startLoad, type Load } from './load';
import { faultPlatform, RECOVERY_BOUND_MS, SCALE, type FaultPlatform } from './platform';

export { waitFor };
export { FULL, SCALE, type FaultPlatform } from './platform';
export { type Load } from './load';

/**
 * The fault suite's harness: a platform of its own on the local stack (a namespace of topics and subjects, a
 * PostgreSQL schema), run as real processes — two API instances and a projection worker (faults/platform.ts) — a
 * steady, bounded load of commands through their HTTP APIs (faults/load.ts), the stack's own processes to break
 * (through the stack module, never by name: the stack is the one the environment names, so CI breaks the CI
 * stack), and the books to check after (faults/books.ts). The specs import what they use from here.
 */

// ---------------------------------------------------------------------------------------------------------------
// the stack's own processes

/**
 * Sends a signal to a component of the stack this process is configured for (`kafka`, `kafka-2`, `registry`,
 * `postgres`…), by the pid the stack recorded, never by process name.
 */
export function signalComponent(stack: Stack, name: string, signal: NodeJS.Signals): number {
  const c = stack.all.find((x) => x.name === name);
  if (!c) throw new Error(`no component ${name} in the stack at ${stack.cfg.dir} (${stack.all.map((x) => x.name).join(', ')})`);
  const pid = c.ownPid();
  if (pid === undefined) throw new Error(`${name} is not running in the stack at ${stack.cfg.dir}`);
  process.kill(pid, signal);
  return pid;
}

export async function waitGone(pid: number): Promise<void> {
  await waitFor(() => (isAlive(pid) ? undefined : true), { what: `pid ${pid} to exit`, timeoutMs: 60_000, intervalMs: 100 });
}

/** Brings every component back (`up` leaves the running ones alone) and returns when all are healthy. */
export async function stackUp(stack: Stack): Promise<void> {
  await up(stack, { log: () => undefined });
}

// ---------------------------------------------------------------------------------------------------------------
// a scenario

const appliedEvents = async (db: Db): Promise<number> =>
  Number(((await db(CHECKPOINTS).sum({ n: 'applied_events' }).first()) as { n: number | null } | undefined)?.n ?? 0);

/**
 * Lets the load run for the warm-up, so the fault hits a running platform: every lane has had answers, and the
 * projection worker has applied them.
 */
async function warmUp(fp: FaultPlatform, load: Load): Promise<void> {
  await sleep(SCALE.warmupMs);
  await waitFor(() => (load.commands.filter((c) => c.final).length >= 3 * SCALE.lanes ? true : undefined), {
    what: 'the load to get going',
    timeoutMs: RECOVERY_BOUND_MS,
    intervalMs: 100,
  });
  await waitFor(async () => ((await appliedEvents(fp.db)) > 0 ? true : undefined), {
    what: 'the projection worker to apply events',
    timeoutMs: RECOVERY_BOUND_MS,
    intervalMs: 100,
  });
  for (const p of Object.values(PROJECTIONS)) await fp.caughtUp(p);
}

/**
 * Runs one scenario: the platform's processes up, the load running for a warm-up, the fault injected by `inject`
 * (which returns the recovery times it measured), the load kept up a while after, then stopped; the read models
 * must catch up; the books are checked and the report printed, written and asserted.
 *
 * `defect` runs a scenario on a platform set up wrong on purpose (`layout`, e.g. one replica per topic): the
 * history checker must find what that loses, so only the topics are checked (the read models of a log that lost
 * records are not expected to agree), nothing is asserted here, and the anomalies are returned to the test.
 */
export async function runScenario(
  name: string,
  fault: string,
  inject: (fp: FaultPlatform, load: Load) => Promise<Record<string, number | string>>,
  opts: {
    connectionErrorsExpected?: boolean;
    expect503?: boolean;
    longLog?: number;
    layout?: Partial<TopicLayout>;
    defect?: string;
  } = {},
): Promise<Report> {
  const started = Date.now();
  const fp = await faultPlatform(name, { layout: opts.layout });
  try {
    if (opts.longLog) console.log(`${name}: a log of ${await fp.seedLog(opts.longLog)} events written before the platform starts`);
    await Promise.all([fp.startApi(0), fp.startApi(1)]);
    fp.startWorker();
    const load = startLoad(fp);
    await warmUp(fp, load);
    const recovery = await inject(fp, load);
    await sleep(SCALE.afterMs);
    if (opts.defect) {
      await load.stop({ giveUp: true }).catch((err: Error) => console.log(`${name} (defect: ${opts.defect}): ${err.message}`));
      const { anomalies } = await checkTopics(fp, load);
      const books: Books = { ...anomalies, reservationsExpected: 0, reservationsFound: 0, readModels: {} };
      const report = makeReport(fp, load, books, `${fault} — with a deliberate defect: ${opts.defect}`, recovery, started);
      publish(fp, report);
      return report;
    }
    await load.stop();
    const t0 = Date.now();
    for (const p of Object.values(PROJECTIONS)) await fp.caughtUp(p);
    recovery['read models caught up after the load stopped'] = Date.now() - t0;
    const books = await checkBooks(fp, load);
    const report = makeReport(fp, load, books, fault, recovery, started);
    publish(fp, report);
    expectSound(report, opts);
    if (opts.expect503) expect(report.attempts['503'] ?? 0).toBeGreaterThan(0);
    return report;
  } finally {
    // A scenario that failed halfway may have left a part down: the next one starts on a whole stack.
    await stackUp(fp.stack).catch((err: unknown) => console.log(`could not bring the stack back up: ${String(err)}`));
    await fp.stop();
  }
}
