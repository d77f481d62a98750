import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { signToken } from '../lib/auth';
import { dropNamespace } from '../lib/bootstrap';
import { loadConfig } from '../lib/config';
import { createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { createRegistry } from '../lib/registry';
import { loadEventSchemas } from '../lib/schemas';
import { topicsFor } from '../lib/topics';
import { commandSideGroups } from './command-restore';
import { piiCostSchema, resultsSchema, writeJson, type Load, type PiiCost } from './results';
import { commandSideChild, log, runLoad } from './stats';

/**
 * `npm run bench:pii`: what encrypting personal data (lib/pii.ts) costs, as a before/after of the same runs at a
 * commit before it (`--before`) and at HEAD, each in a git worktree of its own on this checkout's stack, in turns
 * (before, after, before, after: the machine's drift falls on both sides):
 *  - the rebuild and a command load without personal data: that checkout's `bench/run.ts --quick --no-restore` on a
 *    namespace that checkout seeded (user events sealed after, in the clear before) — its rebuild's applied
 *    events/s and its device renames at 100 clients;
 *  - sign-ups, the command with the most personal data: that checkout's command side alone
 *    (bench/command-side-child.ts) on a fresh namespace, `--connections` clients registering new users for
 *    `--seconds` (each a new data key, three sealed command fields, two sealed reservation claims, a sealed event).
 * Merges `piiCost` into results.json with its target judged: the rebuild at most 10 % slower.
 */
const program = new Command('bench:pii')
  .option('--before <rev>', 'the commit to compare with: the last one before encryption', '53f1471')
  .option('--rounds <n>', 'rounds of the two sides', '2')
  .option('--seconds <n>', 'seconds of sign-up load per run', '15')
  .option('--connections <n>', 'concurrent sign-up clients', '50')
  .option('--out <file>', 'the results file to merge piiCost into', path.join(__dirname, 'results.json'))
  .parse();
const o = program.opts<{ before: string; rounds: string; seconds: string; connections: string; out: string }>();

const root = path.join(__dirname, '..');
/** The stack both checkouts use: this checkout's. */
const stackDir = path.resolve(process.env.STACK_DIR ?? path.join(root, '.stack'));
const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
type Side = 'before' | 'after';

/** A worktree of `rev` with node_modules: this checkout's when the lock file is the same, else its own `npm ci`. */
function worktree(dir: string, rev: string): string {
  git('worktree', 'add', '--detach', '--force', dir, rev);
  const sameLock = spawnSync('git', ['diff', '--quiet', rev, '--', 'package-lock.json'], { cwd: root }).status === 0;
  if (sameLock) symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  else execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit' });
  return dir;
}

/** Runs a script of a checkout through its own tsx, on this checkout's stack. */
function tsx(checkout: string, args: string[], env: Record<string, string> = {}): void {
  const r = spawnSync('npx', ['tsx', ...args], {
    cwd: checkout,
    stdio: 'inherit',
    env: { ...process.env, STACK_DIR: stackDir, ...env },
  });
  if (r.status !== 0) throw new Error(`${args.join(' ')} in ${checkout} exited with ${r.status}`);
}

interface QuickFigures {
  events: number;
  rebuildAppliedPerSecond: number;
  renames: Load;
}

/** A checkout's quick bench on its own seeded namespace (seeded in round 1, reused after, dropped in the last). */
function quickBench(checkout: string, side: Side, last: boolean, scratch: string): QuickFigures {
  const out = path.join(scratch, `${side}-quick.json`);
  tsx(checkout, [
    'bench/run.ts',
    '--quick',
    '--no-restore',
    '--namespace',
    `bench-pii-${side}`,
    '--out',
    out,
    ...(last ? ['--drop-seed'] : []),
  ]);
  // Read loosely: the other checkout's results.json may have fields of its own.
  const r = JSON.parse(readFileSync(out, 'utf8')) as {
    options: { events: number };
    platform: { rebuild: { appliedPerSecond: number }; commands: Array<Load & { scenario: string }> };
  };
  const renames = r.platform.commands.find((c) => c.scenario === 'many' && c.connections === 100);
  if (!renames) throw new Error(`${out} has no command load at 100 clients`);
  return { events: r.options.events, rebuildAppliedPerSecond: r.platform.rebuild.appliedPerSecond, renames };
}

/** A checkout's command side on a namespace of its own, under sign-up load. */
async function signups(checkout: string, side: Side): Promise<Load> {
  const cfg = loadConfig();
  const namespace = `bench-pii-signup-${side}-${randomUUID().slice(0, 8)}`;
  tsx(checkout, ['scripts/bootstrap.ts'], { TOPIC_NAMESPACE: namespace });
  const admin = createKafka(cfg, createLogger('fatal'), 'admin', 'bench').admin();
  await admin.connect();
  try {
    const cs = await commandSideChild(namespace, { STACK_DIR: stackDir }, checkout);
    try {
      const headers = {
        'Content-Type': 'application/json',
        Authorization: `Bearer ${signToken(cfg.auth, { userId: 'ops', tenantId: 'bench', role: 'tenant_admin' })}`,
      };
      const [load] = await runLoad<Load[]>([
        {
          kind: 'http',
          url: cs.url,
          method: 'POST',
          paths: ['/users'],
          body: 'signup',
          headers,
          connections: Number(o.connections),
          seconds: Number(o.seconds),
        },
      ]);
      if (load!.errors + load!.non2xx > load!.requests / 100)
        throw new Error(`${side}: ${load!.errors} errors, ${load!.non2xx} non-2xx of ${load!.requests} sign-ups`);
      return load!;
    } finally {
      await cs.stop();
    }
  } finally {
    await dropNamespace({ admin, registry: createRegistry(cfg, 'writer'), schemas: loadEventSchemas() }, topicsFor(namespace)).catch(
      () => undefined,
    );
    await admin.deleteGroups(commandSideGroups(namespace)).catch(() => undefined);
    await admin.disconnect();
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const change = (before: number, after: number) => Number(((after / before - 1) * 100).toFixed(1));

function summary(runs: PiiCost['runs'], side: Side): PiiCost['mean']['before'] {
  const of = runs.filter((r) => r.side === side);
  return {
    rebuildAppliedPerSecond: Math.round(mean(of.map((r) => r.rebuildAppliedPerSecond))),
    renamesPerSecond: Math.round(mean(of.map((r) => r.renames.perSecond))),
    renamesP99: mean(of.map((r) => r.renames.p99)),
    signupsPerSecond: Math.round(mean(of.map((r) => r.signups.perSecond))),
    signupsP99: mean(of.map((r) => r.signups.p99)),
  };
}

async function main(): Promise<void> {
  const before = git('rev-parse', '--short', o.before);
  const after = git('rev-parse', '--short', 'HEAD');
  const scratch = mkdtempSync(path.join(tmpdir(), 'bench-pii-'));
  const checkouts: Record<Side, string> = {
    before: worktree(path.join(scratch, 'before'), before),
    after: worktree(path.join(scratch, 'after'), after),
  };
  const runs: PiiCost['runs'] = [];
  let quickEvents = 0;
  try {
    const rounds = Number(o.rounds);
    for (let round = 1; round <= rounds; round++) {
      for (const side of ['before', 'after'] as const) {
        log(`round ${round}, ${side} (${side === 'before' ? before : after}): quick bench`);
        const quick = quickBench(checkouts[side], side, round === rounds, scratch);
        log(`round ${round}, ${side}: sign-ups`);
        const load = await signups(checkouts[side], side);
        quickEvents = quick.events;
        runs.push({ side, round, rebuildAppliedPerSecond: quick.rebuildAppliedPerSecond, renames: quick.renames, signups: load });
        log(
          `round ${round}, ${side}: rebuild ${Math.round(quick.rebuildAppliedPerSecond)} events/s, renames ${Math.round(quick.renames.perSecond)}/s p99 ${quick.renames.p99} ms, sign-ups ${Math.round(load.perSecond)}/s p99 ${load.p99} ms`,
        );
      }
    }
  } finally {
    for (const dir of Object.values(checkouts)) spawnSync('git', ['worktree', 'remove', '--force', dir], { cwd: root });
    rmSync(scratch, { recursive: true, force: true });
  }
  const m = { before: summary(runs, 'before'), after: summary(runs, 'after') };
  const changePercent = {
    rebuild: change(m.before.rebuildAppliedPerSecond, m.after.rebuildAppliedPerSecond),
    renames: change(m.before.renamesPerSecond, m.after.renamesPerSecond),
    signups: change(m.before.signupsPerSecond, m.after.signupsPerSecond),
    signupsP99: change(m.before.signupsP99, m.after.signupsP99),
  };
  const piiCost = piiCostSchema.parse({
    measuredAt: new Date().toISOString(),
    before,
    after,
    quickEvents,
    load: { connections: Number(o.connections), seconds: Number(o.seconds) },
    runs,
    mean: m,
    changePercent,
    targets: [
      {
        name: 'rebuild with encryption at most 10 % slower',
        target: `≥ ${Math.round(0.9 * m.before.rebuildAppliedPerSecond)} events/s (0.9 × ${m.before.rebuildAppliedPerSecond} at ${before})`,
        actual: `${m.after.rebuildAppliedPerSecond} events/s (${changePercent.rebuild} %)`,
        met: m.after.rebuildAppliedPerSecond >= 0.9 * m.before.rebuildAppliedPerSecond,
      },
    ],
  });
  const results = resultsSchema.parse(JSON.parse(readFileSync(o.out, 'utf8')));
  await writeJson(o.out, { ...results, piiCost });
  console.log(JSON.stringify({ mean: m, changePercent, targets: piiCost.targets }, null, 2));
  log(`written to ${o.out}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
