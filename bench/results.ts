import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/**
 * The shape of bench/results.json (`npm run bench`): machine facts, the ceilings (L1–L4), the platform's
 * figures, and every target of issue 8 marked met or missed with the figures it was judged on.
 */
const num = z.number().finite();
const latency = z.object({ p50: num, p99: num, count: z.number().int() });
const rate = z.object({ count: z.number().int(), seconds: num, perSecond: num });

const load = z.object({
  connections: z.number().int(),
  seconds: num,
  requests: z.number().int(),
  perSecond: num,
  p50: num,
  p99: num,
  errors: z.number().int(),
  non2xx: z.number().int(),
});

const rebuild = z.object({
  via: z.string(),
  logEvents: z.number().int(),
  appliedEvents: z.number().int(),
  wallSeconds: num,
  steadySeconds: num,
  /** Events applied (summed over the projections) per second, first checkpoint to the end. */
  appliedPerSecond: num,
  /** Distinct log events rebuilt per second, start-up included. */
  logEventsPerSecond: num,
  projections: z.record(z.string(), z.object({ events: z.number().int(), seconds: num, perSecond: num })),
  peakRssMb: num,
  /** Linearity: the rate over the first tenth of the work vs over all of it; RSS at that point vs at the end. */
  firstTenth: z.object({ appliedEvents: z.number().int(), perSecond: num, rssMb: num }),
  lastTenth: z.object({ perSecond: num }),
  rssAtEndMb: num,
});

const target = z.object({ name: z.string(), target: z.string(), actual: z.string(), met: z.boolean() });

/** What one writer (one aggregate type) of a command-side instance holds once ready, and what its restores did. */
const restoreWriter = z.object({
  /** The partitions it owns and has restored. */
  partitions: z.array(z.number().int()),
  aggregates: z.number().int(),
  /** Its restores so far (one per assignment; a rebalance adds one). */
  restores: z.number().int(),
  /** Summed over its restores: changelog records read, events folded, partitions folded from their events, ms. */
  snapshots: z.number().int(),
  events: z.number().int(),
  foldedPartitions: z.number().int(),
  ms: num,
});

/** One command-side instance (bench/command-side-child.ts), times from its spawn. */
const restoreInstance = z.object({
  /** Spawn → its modules loaded (node + tsx + imports). */
  bootMs: num,
  /** Spawn → the command API listening (every writer and the bus have joined their groups). */
  listeningMs: num,
  /** Spawn → every partition of every aggregate type held and restored (by this instance, or by the two together). */
  readyMs: num,
  /** The slowest writer's restore time (the sum of its restores' ms). */
  restoreMs: num,
  snapshots: z.number().int(),
  events: z.number().int(),
  foldedPartitions: z.number().int(),
  aggregates: z.number().int(),
  /** process.memoryUsage() once ready, after a full GC. */
  rssMb: num,
  heapUsedMb: num,
  writers: z.record(z.string(), restoreWriter),
});

/** The probe commands sent at spawn, one on each partition of each aggregate type (each answered with a rejection). */
const restoreAnswers = z.object({
  probes: z.number().int(),
  rejected: z.number().int(),
  /** Spawn → every aggregate type answered at least one probe. */
  everyTypeAnsweredMs: num,
  /** Spawn → every probe answered: a command on every partition of every aggregate type. */
  everyPartitionAnsweredMs: num,
});

/** bench/command-restore.ts: the command side's start on a seeded log, without and with snapshots, alone and as two. */
export const commandRestoreSchema = z.object({
  via: z.string(),
  namespace: z.string(),
  logEvents: z.number().int(),
  /** Partitions of each aggregate type (command, event and snapshot topics are co-partitioned). */
  partitions: z.record(z.string(), z.number().int()),
  firstStart: restoreInstance.extend({ answers: restoreAnswers }),
  restart: restoreInstance.extend({ answers: restoreAnswers }),
  /** A second instance joins the restarted one: what it restores, and its memory against the one that held all. */
  join: z.object({
    /** The joiner's spawn → every partition held and restored by the two. */
    readyMs: num,
    joiner: restoreInstance,
    /** The restarted instance, once it has handed half its partitions over. */
    incumbent: restoreInstance,
    answers: restoreAnswers,
    /** The joiner's RSS (it owns half the partitions) over the RSS of the restarted instance (it owned them all). */
    rssRatio: num,
    /** The same for the heap used after a full GC. */
    heapRatio: num,
  }),
  targets: z.array(target),
});

export type CommandRestore = z.infer<typeof commandRestoreSchema>;

/** One run of one checkout in `npm run bench:pii`: its rebuild and command figures (bench/pii-cost.ts). */
const piiRun = z.object({
  side: z.enum(['before', 'after']),
  round: z.number().int(),
  rebuildAppliedPerSecond: num,
  renames: load,
  signups: load,
});
const piiSide = z.object({ rebuildAppliedPerSecond: num, renamesPerSecond: num, renamesP99: num, signupsPerSecond: num, signupsP99: num });

/** What encrypting personal data costs (bench/pii-cost.ts): the same runs at a commit before it and at this one. */
export const piiCostSchema = z.object({
  measuredAt: z.string(),
  before: z.string(),
  after: z.string(),
  quickEvents: z.number().int(),
  load: z.object({ connections: z.number().int(), seconds: num }),
  runs: z.array(piiRun),
  mean: z.object({ before: piiSide, after: piiSide }),
  /** after / before − 1, in percent (negative: slower). */
  changePercent: z.object({ rebuild: num, renames: num, signups: num, signupsP99: num }),
  targets: z.array(target),
});
export type PiiCost = z.infer<typeof piiCostSchema>;

export const resultsSchema = z.object({
  version: z.literal(1),
  mode: z.enum(['full', 'quick', 'custom']),
  startedAt: z.string(),
  finishedAt: z.string(),
  totalSeconds: num,
  options: z.object({
    events: z.number().int(),
    seconds: num,
    naiveSample: z.number().int(),
    queryRows: z.number().int(),
    namespace: z.string(),
  }),
  machine: z.object({
    cpuModel: z.string(),
    cores: z.number().int(),
    memoryMb: z.number().int(),
    loadAverage: z.array(num),
    os: z.string(),
    node: z.string(),
    kafka: z.string(),
    postgres: z.string(),
    registry: z.string(),
    kafkajs: z.string(),
  }),
  seed: z.object({ events: z.number().int(), reused: z.boolean(), seconds: num, perTopic: z.record(z.string(), z.number().int()) }),
  ceilings: z.object({
    l1: z.object({
      produce: rate.extend({ mbPerSecond: num }),
      produceLatency: z.record(z.string(), latency),
      roundTrip: latency,
    }),
    l2: rate,
    l3: z.object({
      copy: z.record(z.string(), rate),
      upsert: z.record(z.string(), rate),
      upsertPerSecond: num,
      select: latency,
    }),
    l4: load,
  }),
  platform: z.object({
    rebuild,
    naive: rate.extend({ handled: z.record(z.string(), z.number().int()) }),
    commands: z.array(load.extend({ scenario: z.enum(['many', 'hot']) })),
    visibility: z.object({
      targetPerSecond: num,
      sent: z.number().int(),
      visible: z.number().int(),
      failed: z.number().int(),
      acceptedToVisible: latency,
      sendToVisible: latency,
    }),
    queries: z.object({
      rows: z.number().int(),
      saturation: z.object({ single: load, list: load }),
      steady: z.object({ single: load, list: load }),
      duringRebuild: z.object({ single: load, list: load, rebuildAppliedPerSecond: num }),
    }),
  }),
  targets: z.array(target),
  notes: z.array(z.string()),
  /** The command side's restore (bench/command-restore.ts); absent from results of runs before it existed. Its targets are its own. */
  commandRestore: commandRestoreSchema.optional(),
  /** Encryption's cost (bench/pii-cost.ts, `npm run bench:pii`), kept across `npm run bench` runs. */
  piiCost: piiCostSchema.optional(),
});

export type Results = z.infer<typeof resultsSchema>;
export type Load = z.infer<typeof load>;
export type Latency = z.infer<typeof latency>;

/** Writes a results file formatted as the repository's prettier does (`npm run lint` passes on a committed one). */
export async function writeJson(out: string, value: unknown): Promise<void> {
  mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  const prettier = await import('prettier');
  writeFileSync(out, await prettier.format(JSON.stringify(value), { parser: 'json', ...(await prettier.resolveConfig(out)) }));
}

const f = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ms = (n: number) => `${f(n, n < 10 ? 2 : 1)} ms`;

/** The targets of issue 8, judged on the figures of one run. */
export function judge(r: Omit<Results, 'targets'>, batchWaitMs: number): Results['targets'] {
  const c = r.ceilings;
  const p = r.platform;
  const rb = p.rebuild.appliedPerSecond;
  const floor = 0.5 * Math.min(c.l2.perSecond, c.l3.upsertPerSecond);
  const produceP99 = c.l1.produceLatency.c100?.p99 ?? NaN;
  const e2eBound = 3 * (c.l1.roundTrip.p99 + c.l3.select.p99) + batchWaitMs;
  const queryBound = 2 * c.l3.select.p99 + 5;
  const cmd = (scenario: 'many' | 'hot') => p.commands.find((x) => x.scenario === scenario && x.connections === 100);
  const out: Results['targets'] = [
    {
      name: 'rebuild ≥ 0.5 × min(L2, L3 upsert)',
      target: `≥ ${f(floor)} events/s (L2 ${f(c.l2.perSecond)}, L3 upsert ${f(c.l3.upsertPerSecond)} rows/s)`,
      actual: `${f(rb)} events/s`,
      met: rb >= floor,
    },
    {
      name: 'rebuild ≥ 10 × naive peer',
      target: `≥ ${f(10 * p.naive.perSecond)} events/s (naive ${f(p.naive.perSecond)})`,
      actual: `${f(rb)} events/s (${f(rb / p.naive.perSecond, 1)}×)`,
      met: rb >= 10 * p.naive.perSecond,
    },
    {
      name: `rebuild peak RSS ≤ 512 MB (${f(p.rebuild.logEvents)} events)`,
      target: '≤ 512 MB',
      actual: `${f(p.rebuild.peakRssMb)} MB`,
      met: p.rebuild.peakRssMb <= 512,
    },
  ];
  for (const s of ['many', 'hot'] as const) {
    const x = cmd(s);
    if (!x) continue;
    out.push({
      name: `command p99 at 100 clients (${s === 'many' ? 'many aggregates' : 'one hot aggregate'}) ≤ 5 × L1 produce p99 at 100`,
      target: `≤ ${ms(5 * produceP99)} (L1 p99 ${ms(produceP99)})`,
      actual: ms(x.p99),
      met: x.p99 <= 5 * produceP99,
    });
  }
  out.push({
    name: 'end-to-end p99 ≤ 3 × (L1 round trip p99 + L3 SELECT p99) + batch wait',
    target: `≤ ${ms(e2eBound)} (3 × (${ms(c.l1.roundTrip.p99)} + ${ms(c.l3.select.p99)}) + ${batchWaitMs} ms)`,
    actual: ms(p.visibility.acceptedToVisible.p99),
    met: p.visibility.acceptedToVisible.p99 <= e2eBound && p.visibility.visible > 0,
  });
  for (const kind of ['single', 'list'] as const) {
    out.push({
      name: `query p99 (${kind}) at ¼ saturation ≤ 2 × L3 SELECT p99 + 5 ms`,
      target: `≤ ${ms(queryBound)}`,
      actual: ms(p.queries.steady[kind].p99),
      met: p.queries.steady[kind].p99 <= queryBound && p.queries.steady[kind].requests > 0,
    });
  }
  for (const kind of ['single', 'list'] as const) {
    out.push({
      name: `query p99 (${kind}) during a rebuild ≤ 3 × that`,
      target: `≤ ${ms(3 * queryBound)}`,
      actual: ms(p.queries.duringRebuild[kind].p99),
      met: p.queries.duringRebuild[kind].p99 <= 3 * queryBound && p.queries.duringRebuild[kind].requests > 0,
    });
  }
  return out;
}

/**
 * The bounds of the command side's restore, judged on one bench/command-restore.ts run. The restore time of the
 * first bound is the slowest writer's (the largest sum of a writer's restores' ms): the writers restore in parallel.
 */
export function judgeRestore(r: Omit<CommandRestore, 'targets'>): CommandRestore['targets'] {
  const s = r.restart;
  const bound = 3000 + s.restoreMs;
  return [
    {
      name: 'restart: spawn → a command answered on every partition of every aggregate type ≤ 3 s + restore time',
      target: `≤ ${ms(bound)} (3,000 ms + restore ${ms(s.restoreMs)}, the slowest writer's)`,
      actual: `${ms(s.answers.everyPartitionAnsweredMs)} (every type: ${ms(s.answers.everyTypeAnsweredMs)})`,
      met: s.answers.probes > 0 && s.answers.everyPartitionAnsweredMs <= bound,
    },
    {
      name: 'an instance owning half the partitions (it joined): RSS ≤ 0.60 × one owning all',
      target: `≤ ${f(0.6 * s.rssMb)} MB (0.60 × ${f(s.rssMb)} MB)`,
      actual: `${f(r.join.joiner.rssMb)} MB (${f(r.join.rssRatio, 2)}×; heap after GC ${f(r.join.heapRatio, 2)}×)`,
      met: r.join.rssRatio <= 0.6,
    },
  ];
}

const secs = (n: number) => `${f(n / 1000, 2)} s`;

/** The lines of the command side's restore, for `table` and bench/command-restore.ts. */
export function restoreLines(r: CommandRestore): Array<[string, string]> {
  type Start = CommandRestore['firstStart'];
  const start = (label: string, x: Start): Array<[string, string]> => [
    [
      label,
      `boot ${secs(x.bootMs)}, listening ${secs(x.listeningMs)}, ready ${secs(x.readyMs)}, every type answered ${secs(x.answers.everyTypeAnsweredMs)}, every partition ${secs(x.answers.everyPartitionAnsweredMs)} (from spawn)`,
    ],
    [
      '  restore, aggregates held, RSS',
      `${ms(x.restoreMs)}: ${f(x.snapshots)} snapshots read, ${f(x.events)} events folded (${x.foldedPartitions} partitions); ${f(x.aggregates)} aggregates, ${f(x.rssMb)} MB`,
    ],
  ];
  const j = r.join;
  return [
    ...start(`command side, first start over ${f(r.logEvents)} events (no snapshots)`, r.firstStart),
    ...start('command side, restart (snapshots)', r.restart),
    ...start('a second instance joins (the handover)', { ...j.joiner, readyMs: j.readyMs, answers: j.answers }),
    [
      '  memory: joiner / first instance after the handover',
      `RSS ${f(j.joiner.rssMb)} / ${f(j.incumbent.rssMb)} MB, heap after GC ${f(j.joiner.heapUsedMb)} / ${f(j.incumbent.heapUsedMb)} MB; ${f(j.joiner.aggregates)} / ${f(j.incumbent.aggregates)} aggregates`,
    ],
  ];
}

/** Figures, then targets, as markdown tables. */
function render(lines: Array<[string, string]>, targets: Results['targets']): string[] {
  const w = Math.max(...lines.map(([a]) => a.length));
  const figures = lines.map(([a, b]) => `| ${a.padEnd(w)} | ${b} |`);
  const tw = Math.max(...targets.map((t) => t.name.length));
  return [
    `| ${'line'.padEnd(w)} | figure |`,
    `| ${'-'.repeat(w)} | ------ |`,
    ...figures,
    '',
    `| result | ${'target'.padEnd(tw)} | measured | bound |`,
    `| ------ | ${'-'.repeat(tw)} | -------- | ----- |`,
    ...targets.map((t) => `| ${t.met ? 'met   ' : 'MISSED'} | ${t.name.padEnd(tw)} | ${t.actual} | ${t.target} |`),
  ];
}

/** The table bench/command-restore.ts prints when run alone. */
export const restoreTable = (r: CommandRestore): string => render(restoreLines(r), r.targets).join('\n');

/** The table `npm run bench` prints and the README shows: one line per figure, then the targets. */
export function table(r: Results): string {
  const c = r.ceilings;
  const p = r.platform;
  const lines: Array<[string, string]> = [
    ['L1 produce (sendBatch, acks=all, idempotent)', `${f(c.l1.produce.perSecond)} events/s, ${f(c.l1.produce.mbPerSecond, 1)} MB/s`],
    ...Object.entries(c.l1.produceLatency).map(([k, v]): [string, string] => [
      `L1 single-event send, ${k.slice(1)} concurrent`,
      `p50 ${ms(v.p50)}, p99 ${ms(v.p99)}`,
    ]),
    ['L1 ping produce→consume', `p50 ${ms(c.l1.roundTrip.p50)}, p99 ${ms(c.l1.roundTrip.p99)}`],
    ['L2 consume+decode from offset 0', `${f(c.l2.perSecond)} events/s (${f(c.l2.count)} events)`],
    ...Object.entries(c.l3.copy).map(([t, v]): [string, string] => [`L3 COPY into ${t}`, `${f(v.perSecond)} rows/s (${f(v.count)} rows)`]),
    ...Object.entries(c.l3.upsert).map(([t, v]): [string, string] => [
      `L3 multi-row upsert into ${t}`,
      `${f(v.perSecond)} rows/s (${f(v.count)} rows)`,
    ]),
    ['L3 primary-key SELECT through the pool', `p50 ${ms(c.l3.select.p50)}, p99 ${ms(c.l3.select.p99)}`],
    ['L4 bare Koa JSON route', `${f(c.l4.perSecond)} req/s (${c.l4.connections} connections), p99 ${ms(c.l4.p99)}`],
    [
      `rebuild of ${f(p.rebuild.logEvents)} events (${p.rebuild.via})`,
      `${f(p.rebuild.appliedPerSecond)} applied events/s; ${f(p.rebuild.logEventsPerSecond)} log events/s incl. start-up (${f(p.rebuild.wallSeconds, 1)} s)`,
    ],
    ...Object.entries(p.rebuild.projections).map(([n, v]): [string, string] => [
      `  projection ${n}`,
      `${f(v.perSecond)} events/s (${f(v.events)} events in ${f(v.seconds, 1)} s)`,
    ]),
    [
      '  first tenth vs whole vs last tenth',
      `${f(p.rebuild.firstTenth.perSecond)} / ${f(p.rebuild.appliedPerSecond)} / ${f(p.rebuild.lastTenth.perSecond)} events/s`,
    ],
    ['  RSS at first tenth / end / peak', `${f(p.rebuild.firstTenth.rssMb)} / ${f(p.rebuild.rssAtEndMb)} / ${f(p.rebuild.peakRssMb)} MB`],
    ['naive peer (eachMessage, one transaction per event)', `${f(p.naive.perSecond)} events/s (${f(p.naive.count)} events)`],
    ...p.commands.map((x): [string, string] => [
      `command API, ${x.scenario === 'many' ? 'many aggregates' : 'one hot aggregate'}, ${x.connections} clients`,
      `${f(x.perSecond)} cmd/s, p50 ${ms(x.p50)}, p99 ${ms(x.p99)}${x.non2xx + x.errors > 0 ? ` (${x.non2xx} non-2xx, ${x.errors} errors)` : ''}`,
    ]),
    [
      `command accepted → visible (at ${f(p.visibility.targetPerSecond, 1)} cmd/s)`,
      `p50 ${ms(p.visibility.acceptedToVisible.p50)}, p99 ${ms(p.visibility.acceptedToVisible.p99)} (${p.visibility.visible}/${p.visibility.sent} visible)`,
    ],
    ['  command sent → visible', `p50 ${ms(p.visibility.sendToVisible.p50)}, p99 ${ms(p.visibility.sendToVisible.p99)}`],
    ...(['single', 'list'] as const).flatMap((k): Array<[string, string]> => [
      [`query ${k} over ${f(p.queries.rows)} rows, saturation`, `${f(p.queries.saturation[k].perSecond)} req/s`],
      [`  at ${f(p.queries.steady[k].perSecond)} req/s (¼)`, `p50 ${ms(p.queries.steady[k].p50)}, p99 ${ms(p.queries.steady[k].p99)}`],
      [`  same, during a rebuild`, `p50 ${ms(p.queries.duringRebuild[k].p50)}, p99 ${ms(p.queries.duringRebuild[k].p99)}`],
    ]),
    ...(r.commandRestore ? restoreLines(r.commandRestore) : []),
  ];
  const m = r.machine;
  return [
    `${r.mode} run, ${r.startedAt}, ${f(r.totalSeconds)} s — ${m.cpuModel}, ${m.cores} cores, ${f(m.memoryMb)} MB, load ${m.loadAverage.map((x) => x.toFixed(1)).join(' ')}; node ${m.node}, Kafka ${m.kafka}, PostgreSQL ${m.postgres}, ${m.registry}`,
    '',
    ...render(lines, [...r.targets, ...(r.commandRestore?.targets ?? [])]),
  ].join('\n');
}
