import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import type { Config } from '../lib/config';
import { createDb, migrate, type Db } from '../lib/db';
import { vaultFor } from '../lib/pii';
import { createEventLog, type AnyEvent, type EventLog } from '../lib/event-log';
import { createHttpApp } from '../lib/http';
import { createConsumer, createKafka } from '../lib/kafka';
import { createLogger, type Logger } from '../lib/logger';
import { applyBatch } from '../lib/projection';
import { createRegistry, type Registry } from '../lib/registry';
import type { EventSchema } from '../lib/schemas';
import type { Topics } from '../lib/topics';
import { sleep, waitUntil } from '../lib/wait';
import { deviceQueryRoutes } from '../projections/device/routes';
import { PROJECTIONS } from '../platform/read-side';
import { copyRows, deviceRow, l1, l2, l4, notificationRow, selectLatency, upsertRows } from './ceilings';
import { measureCommandRestore } from './command-restore';
import type { VisibilityResult } from './load';
import { deleteTopics, dropSchema, startBenchPlatform } from './platform';
import type { RebuildProgress } from './rebuild-child';
import type { Load, Results } from './results';
import { child, log, rate, runLoad, seconds, userWithDevices } from './stats';

/**
 * The measurements of `npm run bench` (bench/run.ts), one scenario each, in the order they run: the machine's
 * ceilings L1–L4, then the platform's figures, then the command side's restore. A scenario has a name, what it
 * needs — fixtures, set up before the first scenario that needs them and torn down after the last, or figures an
 * earlier scenario gave — and a run function that gives its slice of the results.
 */

/** What every scenario is given: the connections, the seeded namespace and the sizes of this run. */
export interface Bench {
  cfg: Config;
  logger: Logger;
  kafka: Kafka;
  admin: Admin;
  registry: Registry;
  eventLog: EventLog;
  schemas: readonly EventSchema[];
  /** The bench's own connection (no schema): drops the schemas the scenarios leave. */
  db: Db;
  /** The seeded namespace (bench/seed.ts), its topics and the events they hold. */
  ns: string;
  seeded: Topics;
  logEvents: number;
  /** Where L1 produces (deleted after it). */
  scratch: Topics;
  /** The tenant admin's token the loads send. */
  token: string;
  /** The sizes of this run as results.json records them: seconds per load step, the naive peer's sample, the query rows. */
  options: Results['options'];
  quick: boolean;
  /** Fewer than 20,000 events (the smoke test): smaller samples all along. */
  small: boolean;
  /** A folder to write a --cpu-prof of the rebuild process into. */
  profile?: string;
  /** Whether the command side's restore runs (--no-restore). */
  restore: boolean;
}

/** The PostgreSQL schemas the scenarios make, each named after the namespace (`schemaOf`). */
export const SCHEMAS = ['q', 'l3', 'naive', 'rebuild', 'rebuild2', 'cmd'] as const;
export const schemaOf = (ns: string, s: (typeof SCHEMAS)[number]) => `${ns.replace(/\W/g, '_').toLowerCase()}_${s}`;

/** Every figure a scenario may give, under the name results.json has it (in `ceilings` or `platform`, or on top). */
export type Figures = Results['ceilings'] & Results['platform'] & Pick<Results, 'commandRestore'>;

/** A scenario's slice of the results: its figures, and notes on how they were taken. */
type Slice = Partial<Figures> & { notes?: string[] };

/** What several scenarios use, set up once. */
interface Fixtures {
  /** The device rows the query API pages over, COPYed into a schema of their own (L3's COPY into devices), and a sample of their ids. */
  queryRows: { db: Db; ids: string[]; copy: ReturnType<typeof rate> };
  /** The platform as `npm start` runs it, on a fresh namespace and schema, with a user whose devices the command loads rename. */
  livePlatform: { url: string; headers: Record<string, string>; deviceIds: string[]; stop: () => Promise<void> };
}
type FixtureName = keyof Fixtures;

const FIXTURES: { [K in FixtureName]: { open: (b: Bench) => Promise<Fixtures[K]>; close: (f: Fixtures[K], b: Bench) => Promise<void> } } = {
  queryRows: {
    async open(b) {
      const schema = schemaOf(b.ns, 'q');
      const db = createDb(b.cfg.database.url, { schema, poolMax: 10 });
      await dropSchema(db, schema);
      await migrate(db, schema);
      const every = Math.max(1, Math.floor(b.options.queryRows / 20_000));
      const copied = await copyRows(b.cfg.database.url, schema, 'devices', (i) => deviceRow(i), b.options.queryRows, 'device_id', every);
      await db.raw('analyze devices');
      return { db, ids: copied.sample, copy: rate(copied.count, copied.seconds) };
    },
    async close({ db }, b) {
      await dropSchema(db, schemaOf(b.ns, 'q'));
      await db.destroy();
    },
  },
  livePlatform: {
    async open(b) {
      const cfg: Config = {
        ...b.cfg,
        topics: { ...b.cfg.topics, namespace: `${b.ns}-cmd-${randomUUID().slice(0, 8)}` },
        database: { ...b.cfg.database, schema: schemaOf(b.ns, 'cmd') },
        commandTimeoutMs: 30_000,
      };
      const side = await startBenchPlatform(cfg, b, b.logger);
      try {
        const headers = { 'Content-Type': 'application/json', 'X-Tenant-Id': 'acme', Authorization: `Bearer ${b.token}` };
        return { ...side, headers, deviceIds: await userWithDevices(side.url, headers, b.small ? 20 : b.quick ? 200 : 500) };
      } catch (err) {
        await side.stop();
        throw err;
      }
    },
    close: (side) => side.stop(),
  },
};

type Needs = Fixtures & Figures;
type NeedName = keyof Needs;

export interface Scenario<N extends NeedName = NeedName> {
  name: string;
  /** The line the log starts it with (default: its name). */
  heading?: (b: Bench) => string;
  /** The fixtures it uses and the figures of earlier scenarios it reads: `run` is given those. */
  needs: readonly N[];
  skip?: (b: Bench) => boolean;
  run: (b: Bench, have: Pick<Needs, N>) => Promise<Slice>;
}

/** A scenario whose `run` sees only what it declares it needs. */
const scenario = <N extends NeedName = never>(s: Scenario<N>): Scenario => s;

/**
 * Runs the scenarios of `table` in order (leaving out those `skip` says), each with what it needs, and returns the
 * figures they gave and their notes. A fixture is set up before the first scenario that needs it and torn down after
 * the last one; if a scenario fails, whatever is still set up is torn down.
 */
export async function runScenarios(b: Bench, table: readonly Scenario[]): Promise<{ figures: Partial<Figures>; notes: string[] }> {
  const active = table.filter((s) => !s.skip?.(b));
  const lastUse = (name: FixtureName) => active.reduce((last, s, i) => (s.needs.includes(name) ? i : last), -1);
  const isFixture = (n: NeedName): n is FixtureName => n in FIXTURES;
  const open: Partial<Fixtures> = {};
  const use = async <K extends FixtureName>(name: K): Promise<Fixtures[K]> => (open[name] ??= await FIXTURES[name].open(b));
  const close = async <K extends FixtureName>(name: K) => {
    const f = open[name];
    delete open[name];
    if (f) await FIXTURES[name].close(f, b);
  };
  const figures: Partial<Figures> = {};
  const notes: string[] = [];
  try {
    for (const [i, s] of active.entries()) {
      log(s.heading?.(b) ?? s.name);
      const have: Record<string, unknown> = {};
      for (const need of s.needs) {
        if (isFixture(need)) have[need] = await use(need);
        else if (figures[need] === undefined) throw new Error(`${s.name} needs ${need}, which no scenario before it gave`);
        else have[need] = figures[need];
      }
      const { notes: its = [], ...slice } = await s.run(b, have as Pick<Needs, NeedName>);
      Object.assign(figures, slice);
      notes.push(...its);
      for (const name of Object.keys(open) as FixtureName[]) if (lastUse(name) === i) await close(name);
    }
  } finally {
    for (const name of (Object.keys(open) as FixtureName[]).reverse()) await close(name).catch(() => undefined);
  }
  return { figures, notes };
}

/** A rebuild of every read model in a child process (bench/rebuild-child.ts), its progress, and the figures it comes to. */
function rebuild(b: Bench, schema: string, profile?: string) {
  const samples: RebuildProgress[] = [];
  const run = child<RebuildProgress>('rebuild-child.ts', [b.ns, schema, randomUUID().slice(0, 8)], {
    onMessage: (m) => samples.push(m as RebuildProgress),
    execArgv: profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [],
  });
  return { run, samples, summarize: () => summarizeRebuild(samples, b.logEvents) };
}

function summarizeRebuild(samples: RebuildProgress[], logEvents: number): Results['platform']['rebuild'] {
  const last = samples.at(-1)!;
  const names = Object.keys(last.projections);
  const total = names.reduce((n, k) => n + last.projections[k]!.total, 0);
  const firstAt = last.firstAtMs ?? 0;
  const wall = Math.max(...names.map((k) => last.projections[k]!.doneAtMs ?? last.t));
  const steady = Math.max(1, wall - firstAt) / 1000;
  const applied = (s: RebuildProgress) => names.reduce((n, k) => n + s.projections[k]!.applied, 0);
  const tenth = samples.find((s) => applied(s) >= total / 10) ?? last;
  const ninth = samples.find((s) => applied(s) >= (total * 9) / 10) ?? last;
  const lastDt = (wall - ninth.t) / 1000;
  return {
    via: 'rebuildProjection ×3: shadow schema from offset 0, then swap',
    logEvents,
    appliedEvents: applied(last),
    wallSeconds: wall / 1000,
    steadySeconds: steady,
    appliedPerSecond: total / steady,
    logEventsPerSecond: logEvents / (wall / 1000),
    projections: Object.fromEntries(
      names.map((k) => {
        const p = last.projections[k]!;
        const s = Math.max(1, (p.doneAtMs ?? wall) - firstAt) / 1000;
        return [k, { events: p.total, seconds: s, perSecond: p.total / s }];
      }),
    ),
    peakRssMb: Math.max(...samples.map((s) => s.maxRssMb)),
    firstTenth: {
      appliedEvents: applied(tenth),
      perSecond: applied(tenth) / Math.max(0.001, (tenth.t - firstAt) / 1000),
      rssMb: tenth.rssMb,
    },
    lastTenth: { perSecond: lastDt > 0.3 ? (total - applied(ninth)) / lastDt : total / steady },
    rssAtEndMb: last.rssMb,
  };
}

/** The naive peer: eachMessage, one transaction per event with single-row statements, as the original handlers did. */
async function naivePeer(b: Bench, schema: string, sample: number) {
  const db = createDb(b.cfg.database.url, { schema, poolMax: 4 });
  await dropSchema(db, schema);
  await migrate(db, schema);
  const logger = createLogger('fatal', 'bench-naive');
  const kafka = createKafka(b.cfg, logger, 'admin', 'bench-naive');
  const eventLog = createEventLog(createRegistry(b.cfg, 'reader'), undefined, { vault: vaultFor(b.cfg, db) });
  const handled: Record<string, number> = {};
  let count = 0;
  let taken = 0;
  let first = 0;
  let finished!: () => void;
  const done = new Promise<void>((r) => (finished = r));
  const consumers = Object.entries(PROJECTIONS).map(([name, projection]) => {
    handled[name] = 0;
    const consumer = createConsumer(kafka, `${b.ns}.bench-naive.${name}.${randomUUID().slice(0, 8)}`, { maxWaitTimeInMs: 200 });
    return { name, projection, consumer };
  });
  const t0 = performance.now();
  for (const { name, projection, consumer } of consumers) {
    await consumer.connect();
    for (const topic of projection.topics(b.seeded)) await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        if (taken++ >= sample) return; // exactly `sample` events, whichever consumer takes them
        if (first === 0) first = performance.now();
        const { event } = await eventLog.decodeMessage(topic, partition, message);
        await db.transaction((trx) => applyBatch(trx, projection, [event as AnyEvent]));
        handled[name]!++;
        if (++count >= sample) finished();
      },
    });
  }
  await Promise.race([done, sleep(600_000)]);
  const s = seconds(first || t0);
  await Promise.all(consumers.map((c) => c.consumer.disconnect()));
  await dropSchema(db, schema);
  await db.destroy();
  return { ...rate(count, s), handled };
}

/** The query API over the rows of `queryRows` on a free port, and its load: single reads then list pages, in one load process. */
async function queryApi(b: Bench, { db, ids }: Fixtures['queryRows']) {
  const http = createHttpApp({
    logger: b.logger,
    routers: [deviceQueryRoutes({ db, topics: b.seeded, auth: b.cfg.auth, consistencyTimeoutMs: 5000 })],
  });
  const { server, url } = await http.listen(0, '127.0.0.1');
  const cursor = (id: string) => Buffer.from(JSON.stringify({ after: id })).toString('base64url');
  const paths = {
    single: ids.map((id) => `/devices/${id}`),
    list: ids.map((id) => `/devices?status=running&limit=50&cursor=${cursor(id)}`),
  };
  const spec = (kind: 'single' | 'list', perSecond?: number) => ({
    kind: 'http',
    url,
    method: 'GET',
    paths: paths[kind],
    headers: { Authorization: `Bearer ${b.token}` },
    connections: perSecond ? 20 : 50,
    seconds: b.options.seconds,
    perSecond,
  });
  return {
    /** At saturation, or at the given rates. */
    async load(rates?: { single: number; list: number }) {
      const [single, list] = await runLoad<[Load, Load]>([spec('single', rates?.single), spec('list', rates?.list)]);
      return { single, list };
    },
    close() {
      server.close();
      server.closeAllConnections();
    },
  };
}

/** The table `npm run bench` runs, in order. */
export const SCENARIOS: readonly Scenario[] = [
  scenario({
    name: 'L1 raw produce',
    needs: [],
    async run(b) {
      const l1Figures = await l1(b, b.seeded, b.scratch, {
        events: b.small ? 5_000 : b.quick ? 100_000 : 300_000,
        seconds: Math.max(1, b.options.seconds / 3),
        pings: b.small ? 20 : 200,
      });
      await deleteTopics(b.admin, [b.scratch.device.events, b.scratch.user.events]);
      return { l1: l1Figures };
    },
  }),
  scenario({
    name: 'L2 raw consume+decode',
    needs: [],
    run: async (b) => ({ l2: await l2(b, b.seeded) }),
  }),
  scenario({
    name: 'L3 raw PostgreSQL',
    needs: ['queryRows'],
    async run(b, { queryRows }) {
      const schema = schemaOf(b.ns, 'l3');
      const db = createDb(b.cfg.database.url, { schema, poolMax: 2 });
      await dropSchema(db, schema);
      await migrate(db, schema);
      const rows = b.small ? 2_000 : b.quick ? 50_000 : 100_000;
      const copied = await copyRows(b.cfg.database.url, schema, 'notifications', notificationRow, rows, 'notification_id');
      await db.raw('truncate notifications');
      const devices = await upsertRows(db, 'devices', (i) => deviceRow(i), rows, 'device_id');
      const notifications = await upsertRows(db, 'notifications', notificationRow, rows, 'notification_id');
      const select = await selectLatency(queryRows.db, 'devices', 'device_id', queryRows.ids, b.small ? 200 : 3_000);
      await dropSchema(db, schema);
      await db.destroy();
      return {
        l3: {
          copy: { devices: queryRows.copy, notifications: rate(copied.count, copied.seconds) },
          upsert: { devices, notifications },
          upsertPerSecond: Math.min(devices.perSecond, notifications.perSecond),
          select,
        },
      };
    },
  }),
  scenario({
    name: 'L4 bare Koa',
    needs: [],
    run: async (b) => ({ l4: await l4({ seconds: b.options.seconds, connections: 100 }) }),
  }),
  scenario({
    name: 'rebuild',
    heading: (b) => `rebuild of ${b.logEvents.toLocaleString()} events`,
    needs: [],
    async run(b) {
      const rb = rebuild(b, schemaOf(b.ns, 'rebuild'), b.profile);
      await rb.run.done;
      const figures = rb.summarize();
      await dropSchema(b.db, schemaOf(b.ns, 'rebuild'));
      log(
        `rebuild: ${Math.round(figures.appliedPerSecond).toLocaleString()} applied events/s, peak RSS ${Math.round(figures.peakRssMb)} MB`,
      );
      return { rebuild: figures };
    },
  }),
  scenario({
    name: 'naive peer',
    heading: (b) => `naive peer on ${b.options.naiveSample.toLocaleString()} events`,
    needs: [],
    run: async (b) => ({ naive: await naivePeer(b, schemaOf(b.ns, 'naive'), Math.min(b.options.naiveSample, b.logEvents)) }),
  }),
  scenario({
    name: 'command API',
    needs: ['livePlatform'],
    async run(b, { livePlatform: side }) {
      const steps = (['many', 'hot'] as const).flatMap((scenario) => [1, 10, 100].map((connections) => ({ scenario, connections })));
      const loads = await runLoad<Load[]>(
        steps.map(({ scenario, connections }) => ({
          kind: 'http',
          url: side.url,
          method: 'PATCH',
          paths: scenario === 'hot' ? [`/devices/${side.deviceIds[0]!}`] : side.deviceIds.map((id) => `/devices/${id}`),
          body: 'rename',
          headers: side.headers,
          connections,
          seconds: b.options.seconds,
        })),
      );
      const commands = steps.map(({ scenario }, i) => ({ scenario, ...loads[i]! }));
      for (const r of commands)
        log(`  ${r.scenario} ×${r.connections}: ${Math.round(r.perSecond)} cmd/s, p50 ${r.p50} ms, p99 ${r.p99} ms`);
      return { commands };
    },
  }),
  scenario({
    name: 'end-to-end visibility',
    needs: ['livePlatform', 'commands'],
    async run(b, { livePlatform: side, commands }) {
      // At half the command API's capacity over many aggregates.
      const capacity = Math.max(...commands.filter((c) => c.scenario === 'many').map((c) => c.perSecond));
      const targetPerSecond = Math.max(1, capacity / 2);
      const v = await runLoad<VisibilityResult>({
        kind: 'visibility',
        url: side.url,
        deviceIds: side.deviceIds,
        commandHeaders: side.headers,
        queryHeaders: { Authorization: `Bearer ${b.token}` },
        perSecond: targetPerSecond,
        seconds: b.options.seconds,
      });
      log(`  visibility at ${Math.round(capacity / 2)} cmd/s: p99 ${v.acceptedToVisible.p99.toFixed(1)} ms`);
      return { visibility: { targetPerSecond, ...v } };
    },
  }),
  // The query API over the COPYed rows, at saturation, at a quarter of it, and during a rebuild.
  scenario({
    name: 'query API',
    heading: (b) => `query API over ${b.options.queryRows.toLocaleString()} device rows`,
    needs: ['queryRows'],
    async run(b, { queryRows }) {
      const api = await queryApi(b, queryRows);
      try {
        const saturation = await api.load();
        const quarter = { single: saturation.single.perSecond / 4, list: saturation.list.perSecond / 4 };
        const steady = await api.load(quarter);
        log(`  steady p99: single ${steady.single.p99.toFixed(1)} ms, list ${steady.list.p99.toFixed(1)} ms`);
        const rb = rebuild(b, schemaOf(b.ns, 'rebuild2'));
        await waitUntil(async () => rb.samples.some((s) => Object.values(s.projections).some((p) => p.applied > 0)), 60_000, 100);
        const before = rb.samples.at(-1);
        const { single, list } = await api.load(quarter);
        const after = rb.samples.at(-1);
        const running = after?.kind === 'progress';
        rb.run.stop();
        await rb.run.done.catch(() => undefined);
        await dropSchema(b.db, schemaOf(b.ns, 'rebuild2'));
        const sum = (s?: RebuildProgress) => (s ? Object.values(s.projections).reduce((n, p) => n + p.applied, 0) : 0);
        const rebuildAppliedPerSecond = before && after ? (sum(after) - sum(before)) / Math.max(0.001, (after.t - before.t) / 1000) : 0;
        log(`  during a rebuild p99: single ${single.p99.toFixed(1)} ms, list ${list.p99.toFixed(1)} ms`);
        return {
          queries: { rows: b.options.queryRows, saturation, steady, duringRebuild: { single, list, rebuildAppliedPerSecond } },
          notes: running
            ? []
            : ['the rebuild finished before the query load during it ended; the "during a rebuild" figures cover only part of it'],
        };
      } finally {
        api.close();
      }
    },
  }),
  // The command side's start over the seeded log: no snapshots, snapshots, two instances at once.
  scenario({
    name: 'command restore',
    heading: (b) => `command side restore over ${b.logEvents.toLocaleString()} events`,
    needs: [],
    skip: (b) => !b.restore,
    run: async (b) => ({ commandRestore: await measureCommandRestore(b, { namespace: b.ns, logEvents: b.logEvents, log }) }),
  }),
];
