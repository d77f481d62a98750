import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { signToken } from '../lib/auth';
import { bootstrapNamespace, dropNamespace } from '../lib/bootstrap';
import { loadConfig } from '../lib/config';
import { createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { createRegistry } from '../lib/registry';
import { loadEventSchemas } from '../lib/schemas';
import { topicsFor } from '../lib/topics';
import type { Load } from './results';
import { commandSideChild, log, runLoad, userWithDevices } from './stats';

/**
 * `npm run bench:tracing`: what tracing costs the command side. The command side runs in a child process
 * (bench/command-side-child.ts) without tracing, with TRACING=file at TRACE_SAMPLE_RATIO 1 (every command's spans
 * written) and at 0.1, in turns (off, 1, 0.1, off, 1, 0.1: the machine's drift falls on each), under the same load —
 * `--connections` clients renaming 200 devices for `--seconds` — and the throughput and latencies are compared.
 */
const program = new Command('bench:tracing')
  .option('--seconds <n>', 'seconds of load per run', '20')
  .option('--connections <n>', 'concurrent clients', '100')
  .option('--rounds <n>', 'rounds of the three runs', '2')
  .parse();
const o = program.opts<{ seconds: string; connections: string; rounds: string }>();

async function main(): Promise<void> {
  const base = loadConfig();
  const namespace = `bench-tracing-${randomUUID().slice(0, 8)}`;
  const cfg = { ...base, topics: { ...base.topics, namespace } };
  const admin = createKafka(cfg, createLogger('fatal'), 'admin', 'bench').admin();
  await admin.connect();
  const deps = { admin, registry: createRegistry(cfg, 'writer'), schemas: loadEventSchemas() };
  const topics = topicsFor(namespace);
  await bootstrapNamespace(deps, topics, cfg.topics);
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-traces-'));
  const headers = {
    'Content-Type': 'application/json',
    Authorization: `Bearer ${signToken(cfg.auth, { userId: 'ops', tenantId: 'bench', role: 'tenant_admin' })}`,
  };
  type Mode = 'off' | 'all' | 'tenth';
  const runs: Array<{ tracing: Mode; load: Load }> = [];
  const env: Record<Mode, Record<string, string>> = {
    off: { TRACING: 'none' },
    all: { TRACING: 'file', TRACE_DIR: dir, TRACE_SAMPLE_RATIO: '1' },
    tenth: { TRACING: 'file', TRACE_DIR: dir, TRACE_SAMPLE_RATIO: '0.1' },
  };
  let deviceIds: string[] = [];
  try {
    for (let round = 0; round < Number(o.rounds); round++) {
      for (const tracing of ['off', 'all', 'tenth'] as const) {
        const side = await commandSideChild(namespace, env[tracing]);
        try {
          if (deviceIds.length === 0) deviceIds = await userWithDevices(side.url, headers, 200);
          const [load] = await runLoad<Load[]>([
            {
              kind: 'http',
              url: side.url,
              method: 'PATCH',
              paths: deviceIds.map((id) => `/devices/${id}`),
              body: 'rename',
              headers,
              connections: Number(o.connections),
              seconds: Number(o.seconds),
            },
          ]);
          runs.push({ tracing, load: load! });
          log(`tracing ${tracing}: ${Math.round(load!.perSecond)} cmd/s, p50 ${load!.p50} ms, p99 ${load!.p99} ms`);
        } finally {
          await side.stop();
        }
      }
    }
  } finally {
    await dropNamespace(deps, topics).catch(() => undefined);
    await admin.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
  const mean = (t: Mode, f: (l: Load) => number) => {
    const xs = runs.filter((r) => r.tracing === t).map((r) => f(r.load));
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const off = mean('off', (l) => l.perSecond);
  const overhead = (t: Mode) => Number((((off - mean(t, (l) => l.perSecond)) / off) * 100).toFixed(1));
  console.log(
    JSON.stringify(
      {
        connections: Number(o.connections),
        secondsPerRun: Number(o.seconds),
        runs: runs.map((r) => ({ tracing: r.tracing, perSecond: Math.round(r.load.perSecond), p50: r.load.p50, p99: r.load.p99 })),
        throughput: {
          off: Math.round(off),
          sampleAll: Math.round(mean('all', (l) => l.perSecond)),
          sampleTenth: Math.round(mean('tenth', (l) => l.perSecond)),
        },
        overheadPercent: { sampleAll: overhead('all'), sampleTenth: overhead('tenth') },
        p99: { off: mean('off', (l) => l.p99), sampleAll: mean('all', (l) => l.p99), sampleTenth: mean('tenth', (l) => l.p99) },
        target: 'overhead ≤ 5 % of command throughput',
        met: { sampleAll: overhead('all') <= 5, sampleTenth: overhead('tenth') <= 5 },
      },
      null,
      2,
    ),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
