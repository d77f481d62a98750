import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { bootstrapNamespace, dropNamespace, type TopicLayout } from '../lib/bootstrap';
import type { Config } from '../lib/config';
import { createDb, migrate, type Db } from '../lib/db';
import type { DecodedRecord } from '../lib/event-log';
import type { Projection } from '../lib/projection';
import { loadEventSchemas } from '../lib/schemas';
import { topicsFor, type Topics } from '../lib/topics';
import { endOffsets } from '../lib/topic-reader';
import { sleep, waitFor } from '../lib/wait';
import { createProducer } from '../lib/kafka';
import { PROJECTIONS } from '../platform/read-side';
import { createStack, loadStackConfig, type Stack } from '../scripts/stack/index';
import { waitForCheckpoints } from '../test/projection-harness';
import { integration, unique } from '../test/support';
import { forgetSeed, seed, seededTopics } from '../bench/seed';

/**
 * The fault suite's platform under test (faults/harness.ts runs the scenarios): a namespace of topics and subjects
 * and a PostgreSQL schema of its own on the local stack, run as real processes — API instances, a projection
 * worker, a rebuild — that a scenario starts, kills and restarts, and stops with the namespace dropped after.
 *
 * The load is scaled down by default (CI); FAULTS_FULL=1 runs the full version.
 */
export const FULL = ['1', 'true'].includes(process.env.FAULTS_FULL ?? '');
export const SCALE = FULL
  ? { lanes: 12, paceMs: 20, warmupMs: 15_000, afterMs: 20_000, registryDownMs: 30_000, stallMs: 40_000, pgDownMs: 20_000, kills: 5 }
  : { lanes: 4, paceMs: 100, warmupMs: 5_000, afterMs: 5_000, registryDownMs: 30_000, stallMs: 35_000, pgDownMs: 8_000, kills: 3 };

/** How long the API waits for a command's reply before answering 503 (short, so outages show quickly). */
export const COMMAND_TIMEOUT_MS = 4_000;
/** The bound on recovery: every lane must succeed again within this once the broken part is back. */
export const RECOVERY_BOUND_MS = 120_000;
const ROOT = path.resolve(__dirname, '..');

// ---------------------------------------------------------------------------------------------------------------
// the namespace

/**
 * The platform's own corner of the stack: makes its namespace's topics and subjects (laid out as `layout` says)
 * and its migrated schema, and the config its processes get.
 */
async function makeNamespace(scenario: string, layout: Partial<TopicLayout> | undefined) {
  const stack: Stack = createStack(loadStackConfig());
  const it_ = integration();
  const namespace = unique(`faults-${scenario}`);
  const topics: Topics = topicsFor(namespace);
  const schemas = loadEventSchemas();
  const deps = { admin: await it_.admin(), registry: it_.registry, schemas };
  // Replicated as the configured cluster is (STACK_BROKERS=3: three replicas, two in sync), unless the scenario says.
  await bootstrapNamespace(deps, topics, { ...it_.cfg.topics, partitions: 6, ...layout });
  const schema = unique(`faults_${scenario}`).replace(/\W/g, '_');
  const db: Db = createDb(it_.cfg.database.url, { schema, poolMax: 4 });
  await migrate(db, schema);
  const cfg: Config = { ...it_.cfg, topics: { ...it_.cfg.topics, namespace }, database: { ...it_.cfg.database, schema } };
  return { scenario, stack, it: it_, deps, namespace, topics, schema, db, cfg };
}

type Namespace = Awaited<ReturnType<typeof makeNamespace>>;

/** Drops the schema and the namespace (or keeps both with FAULTS_KEEP=1), then closes the clients. */
async function dropPlatform(ns: Namespace): Promise<void> {
  if (process.env.FAULTS_KEEP === '1') {
    console.log(`FAULTS_KEEP=1: namespace ${ns.namespace} and schema ${ns.schema} kept for inspection`);
    await ns.db.destroy();
  } else {
    await ns.db.raw('drop schema if exists ?? cascade', [ns.schema]).catch(() => undefined);
    await ns.db.destroy();
    await dropNamespace(ns.deps, ns.topics).catch(() => undefined);
  }
  await ns.it.close();
}

// ---------------------------------------------------------------------------------------------------------------
// the processes

interface Proc {
  name: string;
  child: ChildProcess;
  url?: string;
  /** Killed on purpose by the scenario (its exit is not a failure). */
  killed: boolean;
}

const running = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;

/**
 * The platform's processes: each started with the namespace's environment (`env`), logging to
 * `<logsDir>/faults/<scenario>-<name>.log`, its exit recorded unless it was killed on purpose; none outlives this
 * test process.
 */
function processGroup(ns: Namespace, env: Record<string, string>) {
  const logDir = path.join(ns.stack.cfg.logsDir, 'faults');
  mkdirSync(logDir, { recursive: true });
  const procs = new Map<string, Proc>();
  const unexpectedExits: string[] = [];

  function spawnProc(name: string, script: string, args: string[], extraEnv: Record<string, string>, exitExpected = false): Proc {
    const log = createWriteStream(path.join(logDir, `${ns.scenario}-${name}.log`), { flags: 'a' });
    // One process, tsx as a loader: the tsx CLI runs the script in a child of its own, which a SIGKILL of the CLI
    // would leave running (the fault would kill nothing).
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, script), ...args], {
      env: { ...process.env, ...env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc: Proc = { name, child, killed: exitExpected };
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    child.once('exit', (code, signal) => {
      if (!proc.killed) unexpectedExits.push(`${name} exited (${code ?? signal}) at ${new Date().toISOString()}`);
    });
    procs.set(name, proc);
    return proc;
  }
  // Whatever happens to this test process, its children do not outlive it.
  const reap = () => {
    for (const p of procs.values()) if (running(p)) p.child.kill('SIGKILL');
  };
  process.once('exit', reap);

  async function kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = procs.get(name);
    if (!proc || !running(proc)) return;
    proc.killed = true;
    const exited = new Promise((r) => proc.child.once('exit', r));
    proc.child.kill(signal);
    await exited;
  }

  return {
    procs,
    unexpectedExits,
    spawnProc,
    kill,
    stopAll: () => stopProcesses(procs, unexpectedExits),
    release: () => {
      process.off('exit', reap);
    },
  };
}

type ProcessGroup = ReturnType<typeof processGroup>;

/** Reports the processes that exited on their own, then stops every one still running (SIGTERM, SIGKILL after 10 s), in turn. */
async function stopProcesses(procs: Map<string, Proc>, unexpectedExits: string[]): Promise<void> {
  if (unexpectedExits.length > 0) console.log(`processes that exited on their own: ${unexpectedExits.join('; ')}`);
  for (const p of procs.values()) {
    p.killed = true;
    if (running(p)) {
      const exited = new Promise((r) => p.child.once('exit', r));
      p.child.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (running(p)) p.child.kill('SIGKILL');
    }
  }
}

/** What an API process's writers restored by the time each held partitions (faults/api-process.ts). */
export interface WritersReady {
  readonly ms: number;
  readonly aggregates: number;
  readonly partitions: number;
  readonly snapshots: number;
  readonly events: number;
  readonly folded: number;
  readonly restoreMs: number;
}

/**
 * Starts (or restarts) API instance `i`: the command side and the query API, on a free port. `ready` resolves
 * with what its writers restored once each of them holds partitions (the line `ready {…}` the process prints).
 */
async function startApi(group: ProcessGroup, namespace: string, i: number): Promise<Proc & { ready: () => Promise<WritersReady> }> {
  const name = `api${i}`;
  const proc = group.spawnProc(name, 'faults/api-process.ts', [`${namespace}-api${i}`], { HTTP_PORT: '0' });
  let out = '';
  proc.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.url = await waitFor(() => /listening (\S+)/.exec(out)?.[1], { what: `${name} to listen`, timeoutMs: 180_000, intervalMs: 100 });
  const ready = () =>
    waitFor(() => /^ready (\{.*\})$/m.exec(out)?.[1], {
      what: `${name}'s writers to restore`,
      timeoutMs: RECOVERY_BOUND_MS,
      intervalMs: 50,
    }).then((json) => JSON.parse(json) as WritersReady);
  return Object.assign(proc, { ready });
}

/** Starts `npm run rebuild -- <projection>` (the rebuild CLI: replay into a shadow schema, then the swap). */
function startRebuild(group: ProcessGroup, projection: string, name: string): Proc & { exited: Promise<number | null> } {
  const proc = group.spawnProc(name, 'scripts/rebuild.ts', [projection], {}, true);
  const exited = new Promise<number | null>((resolve) => proc.child.once('exit', (code) => resolve(code)));
  return Object.assign(proc, { exited });
}

/**
 * Writes a long history (about 17 events a user: devices, orders, installs, notifications — bench/seed.ts)
 * straight into the event topics before the platform starts: a log with no snapshots, as after an upgrade. The
 * books count it as the log the platform found, not as events of the load: `prior` gets, per event topic and
 * partition, the end offset of what was written.
 */
async function seedLog(ns: Namespace, prior: Map<string, bigint>, events: number): Promise<number> {
  const producer = createProducer(ns.it.kafka);
  await producer.connect();
  try {
    const marker = await seed({ admin: ns.deps.admin, producer, eventLog: ns.it.eventLog, stackDir: ns.stack.cfg.dir }, ns.topics, events);
    forgetSeed(ns.stack.cfg.dir, ns.namespace);
    for (const [k, { end }] of await endOffsets(ns.deps.admin, seededTopics(ns.topics))) prior.set(k, BigInt(end));
    return marker.events;
  } finally {
    await producer.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the platform

/** The platform under test: its namespace, schema, processes, and helpers to read it back. */
export async function faultPlatform(scenario: string, opts: { layout?: Partial<TopicLayout> } = {}) {
  const ns = await makeNamespace(scenario, opts.layout);
  const group = processGroup(ns, {
    TOPIC_NAMESPACE: ns.namespace,
    DATABASE_SCHEMA: ns.schema,
    COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
    CONSISTENCY_TIMEOUT_MS: '2000',
    LOG_LEVEL: 'warn',
  });
  const { procs } = group;
  /** Per event topic and partition, the end offset of the log written before the platform started (`seedLog`). */
  const prior = new Map<string, bigint>();

  return {
    scenario,
    stack: ns.stack,
    it: ns.it,
    cfg: ns.cfg,
    namespace: ns.namespace,
    topics: ns.topics,
    schema: ns.schema,
    db: ns.db,
    procs,
    unexpectedExits: group.unexpectedExits,
    startApi: (i: number) => startApi(group, ns.namespace, i),
    seedLog: (events: number) => seedLog(ns, prior, events),
    /** Whether a record was in the log before the platform started (`seedLog`). */
    isPrior: (r: DecodedRecord) => BigInt(r.offset) < (prior.get(`${r.topic}/${r.partition}`) ?? 0n),
    /** Starts (or restarts) the projection worker process (`npm run projections`, every read model). */
    startWorker: (name = 'worker', extraEnv: Record<string, string> = {}): Proc =>
      group.spawnProc(name, 'scripts/projections.ts', Object.keys(PROJECTIONS), extraEnv),
    startRebuild: (projection: string, name: string) => startRebuild(group, projection, name),
    kill: group.kill,
    /** Every decoded record of a topic (up to its current end), in partition order. */
    records: (topic: string): Promise<DecodedRecord[]> => ns.it.readAll(topic),
    /** Waits until a projection's checkpoints in `database` reach the end of every partition of its topics. */
    async caughtUp(p: Projection, database: Db = ns.db, timeoutMs = RECOVERY_BOUND_MS): Promise<void> {
      await waitForCheckpoints(await ns.it.admin(), database, p, ns.topics, timeoutMs);
    },
    apiUrls: () =>
      [...procs.values()]
        .filter((p) => p.name.startsWith('api') && !p.killed)
        .map((p) => p.url!)
        .filter(Boolean),
    /** The URL of API instance i (undefined while it is down). */
    apiUrl: (i: number) => {
      const p = procs.get(`api${i}`);
      return p && !p.killed ? p.url : undefined;
    },
    async stop(): Promise<void> {
      await group.stopAll();
      await dropPlatform(ns);
      group.release();
    },
  };
}

export type FaultPlatform = Awaited<ReturnType<typeof faultPlatform>>;
