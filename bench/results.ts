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
  targets: z.array(z.object({ name: z.string(), target: z.string(), actual: z.string(), met: z.boolean() })),
  notes: z.array(z.string()),
});

export type Results = z.infer<typeof resultsSchema>;
export type Load = z.infer<typeof load>;
export type Latency = z.infer<typeof latency>;

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
  ];
  const w = Math.max(...lines.map(([a]) => a.length));
  const figures = lines.map(([a, b]) => `| ${a.padEnd(w)} | ${b} |`);
  const tw = Math.max(...r.targets.map((t) => t.name.length));
  const targets = r.targets.map((t) => `| ${t.met ? 'met   ' : 'MISSED'} | ${t.name.padEnd(tw)} | ${t.actual} | ${t.target} |`);
  const m = r.machine;
  return [
    `${r.mode} run, ${r.startedAt}, ${f(r.totalSeconds)} s — ${m.cpuModel}, ${m.cores} cores, ${f(m.memoryMb)} MB, load ${m.loadAverage.map((x) => x.toFixed(1)).join(' ')}; node ${m.node}, Kafka ${m.kafka}, PostgreSQL ${m.postgres}, ${m.registry}`,
    '',
    `| ${'line'.padEnd(w)} | figure |`,
    `| ${'-'.repeat(w)} | ------ |`,
    ...figures,
    '',
    `| result | ${'target'.padEnd(tw)} | measured | bound |`,
    `| ------ | ${'-'.repeat(tw)} | -------- | ----- |`,
    ...targets,
  ].join('\n');
}
