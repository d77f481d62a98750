import { randomUUID } from 'node:crypto';
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import type { Admin } from 'kafkajs';
import { bootstrapNamespace, dropNamespace } from '../lib/bootstrap';
import { createCommandBus, type CommandBus } from '../lib/command-bus';
import { loadConfig, type Config } from '../lib/config';
import { createKafka, partitionOf } from '../lib/kafka';
import { createLogger, type Logger } from '../lib/logger';
import { createRegistry, type Registry } from '../lib/registry';
import { loadEventSchemas, type EventSchema } from '../lib/schemas';
import { AGGREGATE_NAMES, topicsFor, type AggregateName, type Topics } from '../lib/topics';
import { sleep, waitFor } from '../lib/wait';
import { loadStackConfig } from '../scripts/stack/config';
import type { ChildMessage, ParentMessage, Writers } from './command-side-child';
import { deleteTopics, retrying, seedOrReuse } from './platform';
import { commandRestoreSchema, judgeRestore, restoreTable, type CommandRestore } from './results';
import { forgetSeed } from './seed';
import { log } from './stats';

/**
 * `npm run bench:restore`: how the command side starts on a long event log (issue 14). Over a namespace seeded
 * by bench/seed.ts (the same seed `npm run bench` makes and reuses), the command side — `startCommandSide`, in a
 * child process (bench/command-side-child.ts) — is started three times:
 *  1. first start: the namespace's snapshot topics are deleted and made again empty, so its writers fold every
 *     event of their partitions and write snapshots (the reservation-release policy's group is set to the end of
 *     the user events first: the seed claimed no reservation, and its replay would run through every start);
 *  2. restart: that instance stopped (SIGTERM, until it exits), a new one reads the snapshots and (almost) no event;
 *  3. a second instance joins the restarted one, in the same consumer groups: it is given about half the partitions
 *     and restores only those; its RSS is that of an instance owning half.
 * Each time, from the spawn: the API listening, every partition of every aggregate type held and restored, and a
 * probe command on every partition of every aggregate type answered. The probes are sent at the spawn through a
 * command bus of the `api` principal and are refused at once by their writer (an unknown id, or for reservations
 * a version the id does not have): they append no event, so the seed stays as it was for the next run. Then the
 * writers' restore stats, the aggregates held, RSS and heap after a full GC.
 *
 * Also a section of `npm run bench` (bench/run.ts), over its seeded namespace.
 */

/** A command each writer refuses at once on an id it does not hold (nothing is appended, nothing remembered). */
const PROBES: Record<AggregateName, { type: string; payload: Record<string, unknown>; expectedVersion?: number }> = {
  user: { type: 'CheckUser', payload: {} },
  device: { type: 'StopDevice', payload: {} },
  order: { type: 'CancelOrder', payload: {} },
  appInstall: { type: 'CompleteAppInstall', payload: {} },
  notification: { type: 'ReadNotification', payload: {} },
  // ReleaseReservation of a free reservation is a no-op the writer would answer with success and keep in memory.
  reservation: { type: 'ReleaseReservation', payload: { ownerId: 'bench-restore' }, expectedVersion: 1 },
};

type Memory = Extract<ChildMessage, { kind: 'memory' }>;
type State = Extract<ChildMessage, { kind: 'state' }>;
type Instance = CommandRestore['restart'];
type Answers = CommandRestore['restart']['answers'];

const mb = (bytes: number) => bytes / 2 ** 20;

/** One command-side child process; times are from `t0` (its spawn). */
function spawnInstance(namespace: string, instanceId: string, t0: number) {
  const cp = fork(path.join(__dirname, 'command-side-child.ts'), [namespace, instanceId], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let bootMs = NaN;
  let failure: Error | undefined;
  const pending = new Map<number, { resolve: (m: ChildMessage) => void; reject: (err: Error) => void }>();
  let nextId = 0;
  let onListening!: { resolve: (ms: number) => void; reject: (err: Error) => void };
  const listening = new Promise<number>((resolve, reject) => (onListening = { resolve, reject }));
  listening.catch(() => undefined);
  const fail = (err: Error) => {
    failure ??= err;
    onListening.reject(err);
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  const exited = new Promise<number | null>((resolve) => {
    cp.on('exit', (code) => {
      fail(new Error(`command-side instance ${instanceId} exited with ${code}`));
      resolve(code);
    });
  });
  cp.on('error', (err) => fail(err));
  cp.on('message', (raw) => {
    const m = raw as ChildMessage;
    const at = performance.now() - t0;
    if (m.kind === 'boot') bootMs = at;
    else if (m.kind === 'listening') onListening.resolve(at);
    else if (m.kind === 'failed') fail(new Error(`command-side instance ${instanceId} failed: ${m.error}`));
    else {
      pending.get(m.id)?.resolve(m);
      pending.delete(m.id);
    }
  });
  const request = <T extends ChildMessage>(kind: ParentMessage['kind']): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (failure) return reject(failure);
      const id = nextId++;
      pending.set(id, { resolve: resolve as (m: ChildMessage) => void, reject });
      cp.send({ kind, id } satisfies ParentMessage);
    });
  return {
    instanceId,
    bootMs: () => bootMs,
    listening,
    state: () => request<State>('state'),
    memory: () => request<Memory>('memory'),
    /** SIGTERM, and wait until it exits (SIGKILL after 30 s). */
    async stop(): Promise<void> {
      if (cp.exitCode !== null || cp.signalCode !== null) return;
      cp.kill('SIGTERM');
      const killer = setTimeout(() => cp.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

type Child = ReturnType<typeof spawnInstance>;

/** One probe id per partition of an aggregate type (found with the producers' partitioner). */
function probeIds(tag: string, name: AggregateName, partitions: number): string[] {
  const ids: string[] = [];
  let filled = 0;
  for (let k = 0; filled < partitions; k++) {
    const id = `restore-probe-${tag}-${name}-${k}`;
    const p = partitionOf(id, partitions);
    if (ids[p] === undefined) {
      ids[p] = id;
      filled++;
    }
  }
  return ids;
}

/** Sends a probe to every partition of every aggregate type now; resolves when all are answered. */
async function probe(bus: CommandBus, topics: Topics, partitions: Record<string, number>, tag: string, t0: number): Promise<Answers> {
  const sent = AGGREGATE_NAMES.flatMap((name) =>
    probeIds(tag, name, partitions[name]!).map(async (aggregateId) => {
      const { type, payload, expectedVersion } = PROBES[name];
      const reply = await bus.send(topics[name], {
        meta: {
          commandId: randomUUID(),
          aggregateId,
          tenantId: 'acme',
          correlationId: `bench-restore-${tag}`,
          causationId: null,
          now: Date.now(),
          ...(expectedVersion !== undefined ? { expectedVersion } : {}),
        },
        type,
        payload,
      });
      return { name, ok: reply.ok, at: performance.now() - t0 };
    }),
  );
  const answered = await Promise.all(sent);
  const firstOf = (name: AggregateName) => Math.min(...answered.filter((a) => a.name === name).map((a) => a.at));
  return {
    probes: answered.length,
    rejected: answered.filter((a) => !a.ok).length,
    everyTypeAnsweredMs: Math.max(...AGGREGATE_NAMES.map(firstOf)),
    everyPartitionAnsweredMs: Math.max(...answered.map((a) => a.at)),
  };
}

/**
 * Polls the instances until, together, they hold every partition of every aggregate type once each, all
 * restored (with two or more, each holding at least one partition of each type when there are enough).
 */
async function untilReady(instances: Child[], partitions: Record<string, number>, t0: number, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(instances.map((i) => i.state()));
    const covered = AGGREGATE_NAMES.every((name) => {
      const held = states.map((s) => s.writers[name].partitions);
      const all = new Set(held.flat());
      const n = partitions[name]!;
      const shared = instances.length === 1 || n < instances.length || held.every((h) => h.length > 0);
      return all.size === n && held.flat().length === n && shared;
    });
    if (covered && states.every((s) => s.ready)) return { readyMs: performance.now() - t0, writers: states.map((s) => s.writers) };
    if (performance.now() > deadline) {
      const held = states.map((s) => AGGREGATE_NAMES.map((n) => `${n} [${s.writers[n].partitions.join(',')}]`).join(' '));
      throw new Error(`the command side was not ready after ${timeoutMs} ms; held: ${held.join(' | ')}`);
    }
    await sleep(100);
  }
}

/** One instance's figures, from its writers once ready and its memory. */
function summarize(child: Child, listeningMs: number, readyMs: number, writers: Writers, memory: Memory): Omit<Instance, 'answers'> {
  const perWriter = Object.fromEntries(
    AGGREGATE_NAMES.map((name) => {
      const w = writers[name];
      const sum = (f: (r: (typeof w.restores)[number]) => number) => w.restores.reduce((n, r) => n + f(r), 0);
      return [
        name,
        {
          partitions: [...w.partitions],
          aggregates: w.aggregates,
          restores: w.restores.length,
          snapshots: sum((r) => r.snapshots),
          events: sum((r) => r.events),
          foldedPartitions: sum((r) => r.folded.length),
          ms: sum((r) => r.ms),
        },
      ];
    }),
  );
  const all = Object.values(perWriter);
  const total = (k: 'snapshots' | 'events' | 'foldedPartitions' | 'aggregates') => all.reduce((n, w) => n + w[k], 0);
  return {
    bootMs: child.bootMs(),
    listeningMs,
    readyMs,
    restoreMs: Math.max(...all.map((w) => w.ms)),
    snapshots: total('snapshots'),
    events: total('events'),
    foldedPartitions: total('foldedPartitions'),
    aggregates: total('aggregates'),
    rssMb: mb(memory.rss),
    heapUsedMb: mb(memory.heapUsed),
    writers: perWriter,
  };
}

export interface RestoreDeps {
  cfg: Config;
  admin: Admin;
  registry: Registry;
  schemas: readonly EventSchema[];
  logger: Logger;
}

/**
 * The three starts over `namespace`, which must hold the seed already (bootstrapped: topics, ACLs, schemas). It
 * deletes and makes again the namespace's snapshot topics, and sets its reservation-release policy's group to the
 * end of the user events.
 */
export async function measureCommandRestore(
  deps: RestoreDeps,
  opts: { namespace: string; logEvents: number; timeoutMs?: number; log?: (msg: string) => void },
): Promise<CommandRestore> {
  const { cfg, admin, logger } = deps;
  const ns = opts.namespace;
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const log = opts.log ?? (() => undefined);
  const topics = topicsFor(ns);
  const nsCfg: Config = { ...cfg, topics: { ...cfg.topics, namespace: ns } };

  const meta = await admin.fetchTopicMetadata({ topics: AGGREGATE_NAMES.map((n) => topics[n].commands) });
  const partitions = Object.fromEntries(
    AGGREGATE_NAMES.map((n) => [n, meta.topics.find((t) => t.name === topics[n].commands)!.partitions.length]),
  );

  // No snapshots: the snapshot topics made again empty.
  await deleteTopics(
    admin,
    AGGREGATE_NAMES.map((n) => topics[n].snapshots),
  );
  await retrying(() => bootstrapNamespace(deps, topics, nsCfg.topics));
  // The reservation-release policy starts at the end of the user events: the seed claimed no reservation, and a
  // policy replaying it would send its releases through the writers during every start measured here.
  const userEventsEnd = (await admin.fetchTopicOffsets(topics.user.events)).map(({ partition, high }) => ({ partition, offset: high }));
  // (Refused while members of an earlier, killed run are still in the group: tried again until their session expires.)
  await waitFor(
    () =>
      admin
        .setOffsets({ groupId: `${ns}.reservation-release.policy`, topic: topics.user.events, partitions: userEventsEnd })
        .then(() => true),
    { what: "the reservation-release policy's group to be empty", timeoutMs: 60_000, intervalMs: 1000 },
  );

  const tag = randomUUID().slice(0, 8);
  const bus = createCommandBus({
    kafka: createKafka(nsCfg, logger, 'api', `bench-restore-${tag}`),
    repliesTopic: topics.replies,
    instanceId: `bench-restore-${tag}`,
    logger,
    timeoutMs,
  });
  await bus.start();
  const running = new Set<Child>();

  /**
   * Spawns `n` instances at once (beside those `alongside`, already running), probes, waits until they are all ready
   * together; then stops the new ones unless `keep`.
   */
  const start = async (n: number, phase: string, opts: { alongside?: Child[]; keep?: boolean } = {}) => {
    const t0 = performance.now();
    const alongside = opts.alongside ?? [];
    const children = Array.from({ length: n }, (_, k) => spawnInstance(ns, `bench-restore-${tag}-${phase}-${k}`, t0));
    children.forEach((c) => running.add(c));
    let ok = false;
    try {
      const answers = probe(bus, topics, partitions, `${tag}-${phase}`, t0);
      answers.catch(() => undefined);
      const listening = await Promise.all(children.map((c) => c.listening));
      const { readyMs, writers } = await untilReady([...children, ...alongside], partitions, t0, timeoutMs);
      const memory = await Promise.all([...children, ...alongside].map((c) => c.memory()));
      const instances = children.map((c, k) => summarize(c, listening[k]!, readyMs, writers[k]!, memory[k]!));
      const others = alongside.map((c, k) => summarize(c, 0, readyMs, writers[n + k]!, memory[n + k]!));
      ok = true;
      return { readyMs, instances, others, children, answers: await answers };
    } finally {
      if (!(ok && opts.keep)) {
        await Promise.all(children.map((c) => c.stop()));
        children.forEach((c) => running.delete(c));
      }
    }
  };
  const line = (what: string, i: Omit<Instance, 'answers'>, a: Answers) =>
    log(
      `  ${what}: listening ${(i.listeningMs / 1000).toFixed(1)} s, every partition answered ${(a.everyPartitionAnsweredMs / 1000).toFixed(1)} s; ` +
        `restore ${Math.round(i.restoreMs)} ms (${i.snapshots} snapshots, ${i.events} events folded), ${i.aggregates} aggregates, RSS ${Math.round(i.rssMb)} MB`,
    );

  try {
    log('  first start (no snapshots)');
    const first = await start(1, 'first');
    const firstStart = { ...first.instances[0]!, answers: first.answers };
    line('first start', firstStart, first.answers);
    log('  restart (snapshots)');
    const again = await start(1, 'restart', { keep: true });
    const restart = { ...again.instances[0]!, answers: again.answers };
    line('restart', restart, again.answers);
    // A second instance joins the one of the restart: it is given about half of the partitions and restores only
    // those (its RSS is that of an instance owning half); the first keeps its other half (its RSS keeps the peak of
    // holding them all: V8 does not give the freed heap back at once — its heap after a full GC shows what it holds).
    log('  a second instance joins');
    const joined = await start(1, 'join', { alongside: again.children });
    const joiner = joined.instances[0]!;
    const incumbent = joined.others[0]!;
    line('joining instance', joiner, joined.answers);
    line('first instance, after the handover', incumbent, joined.answers);
    const partial = {
      via: 'startCommandSide in a child process each (bench/command-side-child.ts); a probe on every partition of every aggregate type sent at the spawn through a command bus (api principal)',
      namespace: ns,
      logEvents: opts.logEvents,
      partitions,
      firstStart,
      restart,
      join: {
        readyMs: joined.readyMs,
        joiner,
        incumbent,
        answers: joined.answers,
        rssRatio: joiner.rssMb / restart.rssMb,
        heapRatio: joiner.heapUsedMb / restart.heapUsedMb,
      },
    };
    return commandRestoreSchema.parse({ ...partial, targets: judgeRestore(partial) });
  } finally {
    await Promise.all([...running].map((c) => c.stop().catch(() => undefined)));
    await bus.stop().catch(() => undefined);
  }
}

/** The consumer groups the command side of a namespace commits to (the writers' and the policy's). */
export const commandSideGroups = (ns: string) => [
  ...AGGREGATE_NAMES.map((n) => `${ns}.${n}.processor`),
  `${ns}.reservation-release.policy`,
];

async function main(): Promise<void> {
  const o = new Command('bench:restore')
    .option('--events <n>', 'events to seed (or whose seed to reuse)', '1000000')
    .option('--namespace <ns>', 'topic namespace of the seed (the same as `npm run bench` reuses it)', 'bench')
    .option('--timeout <s>', 'seconds each start may take to be ready and answer', '600')
    .option('--out <file>', 'also write the figures (JSON, the commandRestore section of bench/results.json) here')
    .option('--drop-seed', "delete the namespace's topics and the command side's groups at the end (default: keep them)")
    .parse()
    .opts<{ events: string; namespace: string; timeout: string; out?: string; dropSeed?: boolean }>();
  const events = Number(o.events);
  const ns = o.namespace;
  const cfg = loadConfig();
  const stack = loadStackConfig();
  const logger = createLogger('fatal', 'bench-restore');
  const kafka = createKafka(cfg, logger, 'admin', 'bench-restore');
  const admin = kafka.admin();
  await admin.connect();
  const registry = createRegistry(cfg, 'writer');
  const schemas = loadEventSchemas();
  const deps = { cfg, admin, registry, schemas, logger };
  const seeded = topicsFor(ns);
  try {
    // The seed, exactly as bench/run.ts makes it (and reuses it while the topics hold what it wrote).
    log(`seeding ${events.toLocaleString()} events into ${ns}.*`);
    const { marker, reused } = await seedOrReuse({ cfg, kafka, admin, registry, schemas, stackDir: stack.dir }, seeded, events);
    log(`seed: ${marker.events.toLocaleString()} events${reused ? ' (reused)' : ''}`);
    const r = await measureCommandRestore(deps, { namespace: ns, logEvents: marker.events, timeoutMs: Number(o.timeout) * 1000, log });
    console.log(`\n${restoreTable(r)}`);
    if (o.out) {
      mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
      writeFileSync(o.out, `${JSON.stringify(r, null, 2)}\n`);
      console.log(`\nwritten to ${o.out}`);
    }
  } finally {
    if (o.dropSeed) {
      forgetSeed(stack.dir, ns);
      await dropNamespace({ admin, registry, schemas }, seeded).catch(() => undefined);
      await admin.deleteGroups(commandSideGroups(ns)).catch(() => undefined);
    }
    await admin.disconnect();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
