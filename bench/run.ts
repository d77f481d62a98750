import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { signToken } from '../lib/auth';
import { dropNamespace } from '../lib/bootstrap';
import { loadConfig, type Config } from '../lib/config';
import { createDb, type Db } from '../lib/db';
import { vaultFor } from '../lib/pii';
import { createEventLog } from '../lib/event-log';
import { createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { createRegistry } from '../lib/registry';
import { loadEventSchemas } from '../lib/schemas';
import { topicsFor } from '../lib/topics';
import { loadStackConfig, type StackConfig } from '../scripts/stack/config';
import { commandSideGroups } from './command-restore';
import { judge, resultsSchema, table, writeJson, type Results } from './results';
import { SCENARIOS, SCHEMAS, runScenarios, schemaOf, type Bench, type Figures } from './scenarios';
import { forgetSeed } from './seed';
import { deleteTopics, dropSchema, seedOrReuse } from './platform';
import { log, seconds } from './stats';

/**
 * `npm run bench`: the platform measured against the machine's own ceilings, side by side in one run, on the
 * local stack, in a namespace and PostgreSQL schemas of its own (see README, Benchmarks). The measurements are the
 * scenarios of bench/scenarios.ts, run in order over one seeded namespace.
 */

/** How long a projection worker's fetch waits for more events (lib/projection-worker.ts: maxWaitTimeInMs). */
const PROJECTION_BATCH_WAIT_MS = 200;

const program = new Command('bench')
  .option('--quick', 'about three minutes: 100k events, 4 s per load step')
  .option('--events <n>', 'events to seed and rebuild')
  .option('--seconds <n>', 'seconds per load step')
  .option('--naive <n>', 'events the naive peer handles')
  .option('--rows <n>', 'device rows the query API pages over (COPYed by L3)')
  .option('--namespace <ns>', 'topic namespace, schemas named after it (default: bench, or bench-quick with --quick)')
  .option('--out <file>', 'where to write the results', path.join(__dirname, 'results.json'))
  .option('--drop-seed', 'delete the seeded topics at the end (default: keep them for the next run)')
  .option('--profile <dir>', 'write a --cpu-prof of the rebuild process into this folder')
  .option('--seed-only', 'seed (or check the seed of) the namespace and stop')
  .option('--no-restore', "skip the command side's restore (bench/command-restore.ts)")
  .parse();

interface Options {
  quick?: boolean;
  events?: string;
  seconds?: string;
  naive?: string;
  rows?: string;
  namespace?: string;
  out: string;
  dropSeed?: boolean;
  profile?: string;
  seedOnly?: boolean;
  restore: boolean;
}

/** What the options come to: the mode, and the sizes (the defaults of a full or a quick run) the scenarios are given. */
function settings(o: Options): { mode: Results['mode']; sizes: Pick<Bench, 'options' | 'quick' | 'small' | 'profile' | 'restore'> } {
  const quick = Boolean(o.quick);
  const events = Number(o.events ?? (quick ? 100_000 : 1_000_000));
  const options = {
    events,
    seconds: Number(o.seconds ?? (quick ? 4 : 12)),
    naiveSample: Number(o.naive ?? (quick ? 5_000 : 50_000)),
    queryRows: Number(o.rows ?? (quick ? 200_000 : 1_000_000)),
    namespace: o.namespace ?? (quick ? 'bench-quick' : 'bench'),
  };
  return {
    mode: o.events || o.seconds ? 'custom' : quick ? 'quick' : 'full',
    sizes: { options, quick, small: events < 20_000, profile: o.profile, restore: o.restore },
  };
}

/** The machine and the versions of what runs on it. */
async function machineFacts(cfg: Config, stack: StackConfig, db: Db): Promise<Results['machine']> {
  const pgVersion = ((await db.raw('show server_version')) as { rows: Array<{ server_version: string }> }).rows[0]!.server_version;
  const registryInfo = await fetch(cfg.registry.url.replace(/\/apis\/ccompat\/v7$/, '/apis/registry/v3/system/info'))
    .then((r) => r.json() as Promise<{ name: string; version: string }>)
    .then((i) => `${i.name} ${i.version}`)
    .catch(() => 'unknown');
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryMb: Math.round(os.totalmem() / 2 ** 20),
    loadAverage: os.loadavg(),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    kafka: stack.kafka.version,
    postgres: pgVersion,
    registry: registryInfo,
    kafkajs: (JSON.parse(readFileSync(require.resolve('kafkajs/package.json'), 'utf8')) as { version: string }).version,
  };
}

/** The connections of the run, to the local stack, and the seeded namespace's topics. */
async function connect(ns: string) {
  const cfg = loadConfig();
  const logger = createLogger('fatal', 'bench');
  const kafka = createKafka(cfg, logger, 'admin', 'bench');
  const admin = kafka.admin();
  await admin.connect();
  const registry = createRegistry(cfg, 'writer');
  return {
    cfg,
    stack: loadStackConfig(),
    logger,
    kafka,
    admin,
    registry,
    eventLog: createEventLog(registry, undefined, { vault: vaultFor(cfg) }),
    schemas: loadEventSchemas(),
    db: createDb(cfg.database.url, { poolMax: 2 }),
    ns,
    seeded: topicsFor(ns),
    scratch: topicsFor(`${ns}-ceiling`),
    token: signToken(cfg.auth, { userId: 'bench-admin', tenantId: 'acme', role: 'tenant_admin' }),
  };
}
type Connections = Awaited<ReturnType<typeof connect>>;

/** The seed of `events` events, reused when the topics still hold exactly what an earlier run wrote. */
async function seedNamespace(c: Connections, events: number): Promise<Results['seed']> {
  log(`seeding ${events.toLocaleString()} events into ${c.ns}.*`);
  const t = performance.now();
  const { marker, reused } = await seedOrReuse({ ...c, stackDir: c.stack.dir }, c.seeded, events);
  const seed = { events: marker.events, reused, seconds: seconds(t), perTopic: marker.perTopic };
  log(`seed: ${marker.events.toLocaleString()} events ${reused ? '(reused)' : `in ${seed.seconds.toFixed(1)} s`}`);
  return seed;
}

/** Whatever happened, no schema of the bench is left behind (the rebuilds drop their shadows themselves); with --drop-seed, nor its topics. */
async function tearDown(c: Connections, dropSeed?: boolean) {
  for (const s of SCHEMAS) await dropSchema(c.db, schemaOf(c.ns, s)).catch(() => undefined);
  if (dropSeed) {
    forgetSeed(c.stack.dir, c.ns);
    await dropNamespace(c, c.seeded).catch(() => undefined);
    await c.admin.deleteGroups(commandSideGroups(c.ns)).catch(() => undefined);
    await deleteTopics(c.admin, [c.scratch.device.events, c.scratch.user.events]).catch(() => undefined);
  }
  await c.db.destroy();
  await c.admin.disconnect();
}

/** The figures of the scenarios and the facts of the run as results.json has them, checked, with the targets judged on them. */
function resultsOf(
  run: Omit<Results, 'ceilings' | 'platform' | 'commandRestore' | 'targets' | 'piiCost'>,
  figures: Partial<Figures>,
  piiCost: Results['piiCost'],
): Results {
  const { l1, l2, l3, l4, rebuild, naive, commands, visibility, queries, commandRestore } = figures;
  const ceilings = { l1, l2, l3, l4 };
  const platform = { rebuild, naive, commands, visibility, queries };
  const measured = resultsSchema.omit({ targets: true }).parse({ ...run, ceilings, platform, commandRestore, piiCost });
  return resultsSchema.parse({ ...measured, targets: judge(measured, PROJECTION_BATCH_WAIT_MS) });
}

/** The encryption cost an earlier `npm run bench:pii` wrote into `out` (a separate measurement, kept). */
function earlierPiiCost(out: string): Results['piiCost'] {
  try {
    return resultsSchema.shape.piiCost.parse((JSON.parse(readFileSync(out, 'utf8')) as { piiCost?: unknown }).piiCost);
  } catch {
    return undefined;
  }
}

/** Writes the results formatted as the repository's prettier does (`npm run lint` passes on a committed results.json), and prints the table. */
async function writeResults(out: string, results: Results) {
  await writeJson(out, results);
  console.log(`\n${table(results)}\n\nwritten to ${out}`);
}

async function main(): Promise<void> {
  const o = program.opts<Options>();
  const { mode, sizes } = settings(o);
  const { options } = sizes;
  const startedAt = new Date();
  const tStart = performance.now();
  const c = await connect(options.namespace);
  try {
    const machine = await machineFacts(c.cfg, c.stack, c.db);
    const seed = await seedNamespace(c, options.events);
    if (o.seedOnly) return;

    const { figures, notes } = await runScenarios({ ...c, ...sizes, logEvents: seed.events }, SCENARIOS);

    if (seed.reused)
      notes.push(
        `the seeded topics ${c.ns}.* of an earlier run were reused (same event count); delete .stack/bench-seed.${c.ns}.json to reseed`,
      );
    if (machine.loadAverage[0]! > machine.cores)
      notes.push(`the machine was busy at the start (load average ${machine.loadAverage[0]!.toFixed(1)} on ${machine.cores} cores)`);
    const finishedAt = new Date().toISOString();
    const run = { version: 1 as const, mode, startedAt: startedAt.toISOString(), finishedAt, totalSeconds: seconds(tStart) };
    await writeResults(o.out, resultsOf({ ...run, options, machine, seed, notes }, figures, earlierPiiCost(o.out)));
  } finally {
    await tearDown(c, o.dropSeed);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
