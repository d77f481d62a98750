import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { signToken } from '../lib/auth';
import { dropNamespace } from '../lib/bootstrap';
import { loadConfig, type Config } from '../lib/config';
import { createDb, migrate, type Db } from '../lib/db';
import { createEventLog, type AnyEvent } from '../lib/event-log';
import { createHttpApp } from '../lib/http';
import { createConsumer, createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { applyBatch } from '../lib/projection';
import { createRegistry } from '../lib/registry';
import { loadEventSchemas } from '../lib/schemas';
import { topicsFor, type Topics } from '../lib/topics';
import { deviceQueryRoutes } from '../projections/device/routes';
import { PROJECTIONS } from '../projections/platform';
import { loadStackConfig } from '../scripts/stack/config';
import { commandSideGroups, measureCommandRestore } from './command-restore';
import { copyRows, deviceRow, l1, l2, l4, notificationRow, selectLatency, upsertRows } from './ceilings';
import type { VisibilityResult } from './load';
import type { RebuildProgress } from './rebuild-child';
import { judge, resultsSchema, table, type Load, type Results } from './results';
import { forgetSeed } from './seed';
import { deleteTopics, seedOrReuse, startBenchPlatform } from './platform';
import { child, rate, runLoad, seconds, userWithDevices } from './stats';
import { sleep } from '../lib/wait';

/**
 * `npm run bench`: the platform measured against the machine's own ceilings, side by side in one run, on the
 * local stack, in a namespace and PostgreSQL schemas of its own (see README, Benchmarks).
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

const log = (msg: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

async function dropSchema(db: Db, schema: string) {
  await db.raw('drop schema if exists ?? cascade', [schema]);
}

/** Runs a rebuild in a child process and turns its progress into the figures of the results. */
async function rebuild(namespace: string, schema: string, logEvents: number, profile?: string) {
  const samples: RebuildProgress[] = [];
  const run = child<RebuildProgress>('rebuild-child.ts', [namespace, schema, randomUUID().slice(0, 8)], {
    onMessage: (m) => samples.push(m as RebuildProgress),
    execArgv: profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [],
  });
  return { run, samples, summarize: () => summarizeRebuild(samples, logEvents) };
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
async function naivePeer(cfg: Config, seeded: Topics, schema: string, sample: number) {
  const db = createDb(cfg.database.url, { schema, poolMax: 4 });
  await dropSchema(db, schema);
  await migrate(db, schema);
  const logger = createLogger('fatal', 'bench-naive');
  const kafka = createKafka(cfg, logger, 'admin', 'bench-naive');
  const eventLog = createEventLog(createRegistry(cfg, 'reader'));
  const handled: Record<string, number> = {};
  let count = 0;
  let taken = 0;
  let first = 0;
  let finished!: () => void;
  const done = new Promise<void>((r) => (finished = r));
  const consumers = Object.entries(PROJECTIONS).map(([name, projection]) => {
    handled[name] = 0;
    const consumer = createConsumer(kafka, `${seeded.namespace}.bench-naive.${name}.${randomUUID().slice(0, 8)}`, { maxWaitTimeInMs: 200 });
    return { name, projection, consumer };
  });
  const t0 = performance.now();
  for (const { name, projection, consumer } of consumers) {
    await consumer.connect();
    for (const topic of projection.topics(seeded)) await consumer.subscribe({ topic, fromBeginning: true });
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

async function main(): Promise<void> {
  const o = program.opts<Options>();
  const quick = Boolean(o.quick);
  const mode: Results['mode'] = o.events || o.seconds ? 'custom' : quick ? 'quick' : 'full';
  const events = Number(o.events ?? (quick ? 100_000 : 1_000_000));
  const stepSeconds = Number(o.seconds ?? (quick ? 4 : 12));
  const naiveSample = Number(o.naive ?? (quick ? 5_000 : 50_000));
  const queryRows = Number(o.rows ?? (quick ? 200_000 : 1_000_000));
  const small = events < 20_000;
  const startedAt = new Date();
  const tStart = performance.now();
  const notes: string[] = [];

  const cfg = loadConfig();
  const stack = loadStackConfig();
  const logger = createLogger('fatal', 'bench');
  const kafka = createKafka(cfg, logger, 'admin', 'bench');
  const admin = kafka.admin();
  await admin.connect();
  const registry = createRegistry(cfg, 'writer');
  const eventLog = createEventLog(registry);
  const schemas = loadEventSchemas();
  const db = createDb(cfg.database.url, { poolMax: 2 });
  const ns = o.namespace ?? (quick ? 'bench-quick' : 'bench');
  const prefix = ns.replace(/\W/g, '_').toLowerCase();
  const seeded = topicsFor(ns);
  const scratch = topicsFor(`${ns}-ceiling`);
  const cmdTopics = topicsFor(`${ns}-cmd-${randomUUID().slice(0, 8)}`);
  const schemaOf = (s: string) => `${prefix}_${s}`;
  const deps = { admin, registry, schemas };
  const token = signToken(cfg.auth, { userId: 'bench-admin', tenantId: 'acme', role: 'tenant_admin' });

  try {
    // ── machine facts
    const pgVersion = ((await db.raw('show server_version')) as { rows: Array<{ server_version: string }> }).rows[0]!.server_version;
    const registryInfo = await fetch(cfg.registry.url.replace(/\/apis\/ccompat\/v7$/, '/apis/registry/v3/system/info'))
      .then((r) => r.json() as Promise<{ name: string; version: string }>)
      .then((i) => `${i.name} ${i.version}`)
      .catch(() => 'unknown');
    const machine: Results['machine'] = {
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

    // ── seed (reused when the topics still hold exactly what an earlier run wrote)
    log(`seeding ${events.toLocaleString()} events into ${ns}.*`);
    const t = performance.now();
    const { marker, reused } = await seedOrReuse({ cfg, kafka, admin, registry, schemas, stackDir: stack.dir }, seeded, events);
    const seedResult = { events: marker.events, reused, seconds: seconds(t), perTopic: marker.perTopic };
    log(`seed: ${marker.events.toLocaleString()} events ${reused ? '(reused)' : `in ${seedResult.seconds.toFixed(1)} s`}`);
    if (o.seedOnly) return;

    // ── L1
    log('L1 raw produce');
    const c1 = await l1({ kafka, admin, eventLog }, seeded, scratch, {
      events: small ? 5_000 : quick ? 100_000 : 300_000,
      seconds: Math.max(1, stepSeconds / 3),
      pings: small ? 20 : 200,
    });
    await deleteTopics(admin, [scratch.device.events, scratch.user.events]);
    // ── L2
    log('L2 raw consume+decode');
    const c2 = await l2({ kafka, admin, eventLog }, seeded);
    // ── L3
    log('L3 raw PostgreSQL');
    const qSchema = schemaOf('q');
    const l3Schema = schemaOf('l3');
    const qdb = createDb(cfg.database.url, { schema: qSchema, poolMax: 10 });
    const l3db = createDb(cfg.database.url, { schema: l3Schema, poolMax: 2 });
    for (const [d, s] of [
      [qdb, qSchema],
      [l3db, l3Schema],
    ] as const) {
      await dropSchema(d, s);
      await migrate(d, s);
    }
    const copyDevices = await copyRows(
      cfg.database.url,
      qSchema,
      'devices',
      (i) => deviceRow(i),
      queryRows,
      'device_id',
      Math.max(1, Math.floor(queryRows / 20_000)),
    );
    const l3Rows = small ? 2_000 : quick ? 50_000 : 100_000;
    const copyNotes = await copyRows(cfg.database.url, l3Schema, 'notifications', notificationRow, l3Rows, 'notification_id');
    await l3db.raw('truncate notifications');
    const upsertDevices = await upsertRows(l3db, 'devices', (i) => deviceRow(i), l3Rows, 'device_id');
    const upsertNotes = await upsertRows(l3db, 'notifications', notificationRow, l3Rows, 'notification_id');
    await qdb.raw('analyze devices');
    const ids = copyDevices.sample;
    const select = await selectLatency(qdb, 'devices', 'device_id', ids, small ? 200 : 3_000);
    await dropSchema(l3db, l3Schema);
    await l3db.destroy();
    // ── L4
    log('L4 bare Koa');
    const c4 = await l4({ seconds: stepSeconds, connections: 100 });

    const ceilings: Results['ceilings'] = {
      l1: c1,
      l2: c2,
      l3: {
        copy: { devices: rate(copyDevices.count, copyDevices.seconds), notifications: rate(copyNotes.count, copyNotes.seconds) },
        upsert: { devices: upsertDevices, notifications: upsertNotes },
        upsertPerSecond: Math.min(upsertDevices.perSecond, upsertNotes.perSecond),
        select,
      },
      l4: c4,
    };

    // ── (1) rebuild
    log(`rebuild of ${marker.events.toLocaleString()} events`);
    const rb = await rebuild(ns, schemaOf('rebuild'), marker.events, o.profile);
    await rb.run.done;
    const rebuildResult = rb.summarize();
    await dropSchema(db, schemaOf('rebuild'));
    log(
      `rebuild: ${Math.round(rebuildResult.appliedPerSecond).toLocaleString()} applied events/s, peak RSS ${Math.round(rebuildResult.peakRssMb)} MB`,
    );

    // ── (2) naive peer
    log(`naive peer on ${naiveSample.toLocaleString()} events`);
    const naive = await naivePeer(cfg, seeded, schemaOf('naive'), Math.min(naiveSample, marker.events));

    // ── (3) command API and (4) end-to-end visibility
    log('command API');
    const cmdCfg: Config = {
      ...cfg,
      topics: { ...cfg.topics, namespace: cmdTopics.namespace },
      database: { ...cfg.database, schema: schemaOf('cmd') },
      commandTimeoutMs: 30_000,
    };
    const side = await startBenchPlatform(cmdCfg, deps, logger);
    const commands: Results['platform']['commands'] = [];
    let visibility: Results['platform']['visibility'];
    try {
      const headers = { 'Content-Type': 'application/json', 'X-Tenant-Id': 'acme', Authorization: `Bearer ${token}` };
      const deviceIds = await userWithDevices(side.url, headers, small ? 20 : quick ? 200 : 500);
      const hot = deviceIds[0]!;
      const steps = (['many', 'hot'] as const).flatMap((scenario) => [1, 10, 100].map((connections) => ({ scenario, connections })));
      const loads = await runLoad<Load[]>(
        steps.map(({ scenario, connections }) => ({
          kind: 'http',
          url: side.url,
          method: 'PATCH',
          paths: scenario === 'hot' ? [`/devices/${hot}`] : deviceIds.map((id) => `/devices/${id}`),
          rename: true,
          headers,
          connections,
          seconds: stepSeconds,
        })),
      );
      steps.forEach(({ scenario }, i) => {
        const r = loads[i]!;
        commands.push({ scenario, ...r });
        log(`  ${scenario} ×${r.connections}: ${Math.round(r.perSecond)} cmd/s, p50 ${r.p50} ms, p99 ${r.p99} ms`);
      });
      const capacity = Math.max(...commands.filter((c) => c.scenario === 'many').map((c) => c.perSecond));
      const v = await runLoad<VisibilityResult>({
        kind: 'visibility',
        url: side.url,
        deviceIds,
        commandHeaders: headers,
        queryHeaders: { Authorization: `Bearer ${token}` },
        perSecond: Math.max(1, capacity / 2),
        seconds: stepSeconds,
      });
      visibility = { targetPerSecond: Math.max(1, capacity / 2), ...v };
      log(`  visibility at ${Math.round(capacity / 2)} cmd/s: p99 ${v.acceptedToVisible.p99.toFixed(1)} ms`);
    } finally {
      await side.stop();
    }

    // ── (5) query API over the COPYed rows, at saturation, at a quarter of it, and during a rebuild
    log(`query API over ${queryRows.toLocaleString()} device rows`);
    const http = createHttpApp({
      logger,
      routers: [deviceQueryRoutes({ db: qdb, topics: seeded, auth: cfg.auth, consistencyTimeoutMs: 5000 })],
    });
    const { server, url } = await http.listen(0, '127.0.0.1');
    const qHeaders = { Authorization: `Bearer ${token}` };
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
      headers: qHeaders,
      connections: perSecond ? 20 : 50,
      seconds: stepSeconds,
      perSecond,
    });
    /** Single reads then list pages, in one load process; at saturation or at the given rates. */
    const q = async (rates?: { single: number; list: number }) => {
      const [single, list] = await runLoad<[Load, Load]>([spec('single', rates?.single), spec('list', rates?.list)]);
      return { single, list };
    };
    let queries: Results['platform']['queries'];
    try {
      const saturation = await q();
      const quarter = { single: saturation.single.perSecond / 4, list: saturation.list.perSecond / 4 };
      const steady = await q(quarter);
      log(`  steady p99: single ${steady.single.p99.toFixed(1)} ms, list ${steady.list.p99.toFixed(1)} ms`);
      const rb2 = await rebuild(ns, schemaOf('rebuild2'), marker.events);
      const started = () => rb2.samples.some((s) => Object.values(s.projections).some((p) => p.applied > 0));
      for (let i = 0; i < 600 && !started(); i++) await sleep(100);
      const before = rb2.samples.at(-1);
      const { single, list } = await q(quarter);
      const after = rb2.samples.at(-1);
      const running = after?.kind === 'progress';
      rb2.run.stop();
      await rb2.run.done.catch(() => undefined);
      await dropSchema(db, schemaOf('rebuild2'));
      const sum = (s?: RebuildProgress) => (s ? Object.values(s.projections).reduce((n, p) => n + p.applied, 0) : 0);
      const rebuildAppliedPerSecond = before && after ? (sum(after) - sum(before)) / Math.max(0.001, (after.t - before.t) / 1000) : 0;
      if (!running)
        notes.push('the rebuild finished before the query load during it ended; the "during a rebuild" figures cover only part of it');
      queries = { rows: queryRows, saturation, steady, duringRebuild: { single, list, rebuildAppliedPerSecond } };
      log(`  during a rebuild p99: single ${single.p99.toFixed(1)} ms, list ${list.p99.toFixed(1)} ms`);
    } finally {
      server.close();
      server.closeAllConnections();
    }
    await dropSchema(qdb, qSchema);
    await qdb.destroy();

    // ── (6) the command side's start over the seeded log: no snapshots, snapshots, two instances at once
    let commandRestore: Results['commandRestore'];
    if (o.restore) {
      log(`command side restore over ${marker.events.toLocaleString()} events`);
      commandRestore = await measureCommandRestore(
        { cfg, admin, registry, schemas, logger },
        { namespace: ns, logEvents: marker.events, log },
      );
    }

    if (reused)
      notes.push(
        `the seeded topics ${ns}.* of an earlier run were reused (same event count); delete .stack/bench-seed.${ns}.json to reseed`,
      );
    if (machine.loadAverage[0]! > machine.cores)
      notes.push(`the machine was busy at the start (load average ${machine.loadAverage[0]!.toFixed(1)} on ${machine.cores} cores)`);
    const partial = {
      version: 1 as const,
      mode,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      totalSeconds: seconds(tStart),
      options: { events, seconds: stepSeconds, naiveSample, queryRows, namespace: ns },
      machine,
      seed: seedResult,
      ceilings,
      platform: { rebuild: rebuildResult, naive, commands, visibility: visibility!, queries: queries! },
      notes,
      ...(commandRestore ? { commandRestore } : {}),
    };
    const results = resultsSchema.parse({ ...partial, targets: judge(partial, PROJECTION_BATCH_WAIT_MS) });
    mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
    // Formatted as the repository's prettier does, so `npm run lint` passes on a committed results.json.
    const prettier = await import('prettier');
    writeFileSync(o.out, await prettier.format(JSON.stringify(results), { parser: 'json', ...(await prettier.resolveConfig(o.out)) }));
    console.log(`\n${table(results)}\n\nwritten to ${o.out}`);
  } finally {
    // Whatever happened, no schema of the bench is left behind (the rebuilds drop their shadows themselves).
    for (const s of ['q', 'l3', 'naive', 'rebuild', 'rebuild2', 'cmd']) await dropSchema(db, schemaOf(s)).catch(() => undefined);
    if (o.dropSeed) {
      forgetSeed(stack.dir, ns);
      await dropNamespace(deps, seeded).catch(() => undefined);
      await admin.deleteGroups(commandSideGroups(ns)).catch(() => undefined);
      await deleteTopics(admin, [scratch.device.events, scratch.user.events]).catch(() => undefined);
    }
    await db.destroy();
    await admin.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
