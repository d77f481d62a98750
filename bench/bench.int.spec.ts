import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { resultsSchema } from './results';
import { unique } from '../test/support';

/**
 * Smoke run of `npm run bench` with a tiny event count and half-second load steps, in a namespace of its own,
 * writing under .stack/ (bench/results.json holds the last full run). It checks that the results are well formed
 * and complete — never the timings: a benchmark judges its figures itself, in the table it prints.
 */
describe('npm run bench (smoke)', () => {
  const root = path.resolve(__dirname, '..');
  const namespace = unique('bench-smoke');
  const out = path.join(root, '.stack', `${namespace}.results.json`);
  afterAll(() => rmSync(out, { force: true }));

  it('runs every line on 2,000 events and writes results that match the schema', () => {
    const run = spawnSync(
      'npx',
      ['tsx', 'bench/run.ts', '--events', '2000', '--seconds', '0.5', '--naive', '300', '--rows', '5000'].concat([
        '--namespace',
        namespace,
        '--out',
        out,
        '--drop-seed',
      ]),
      { cwd: root, encoding: 'utf8', timeout: 240_000 },
    );
    if (run.status !== 0) throw new Error(`bench exited with ${run.status}:\n${run.stdout}\n${run.stderr}`);
    expect(existsSync(out)).toBe(true);
    const results = resultsSchema.parse(JSON.parse(readFileSync(out, 'utf8')));

    expect(results.mode).toBe('custom');
    expect(results.seed.events).toBeGreaterThanOrEqual(2000);
    expect(Object.keys(results.seed.perTopic)).toHaveLength(5);
    expect(results.platform.rebuild.logEvents).toBe(results.seed.events);
    expect(Object.keys(results.platform.rebuild.projections).sort()).toEqual(['billing', 'device', 'notification']);
    expect(results.platform.naive.count).toBe(300);
    expect(results.platform.commands.map((c) => `${c.scenario}×${c.connections}`)).toEqual([
      'many×1',
      'many×10',
      'many×100',
      'hot×1',
      'hot×10',
      'hot×100',
    ]);
    expect(results.platform.visibility.sent).toBeGreaterThan(0);
    expect(results.platform.queries.rows).toBe(5000);
    expect(results.targets).toHaveLength(10);
    // The command side's restore over the seed: the first start folds it, the restart reads snapshots only.
    const restore = results.commandRestore!;
    expect(restore.firstStart.events).toBeGreaterThanOrEqual(results.seed.events);
    expect(restore.restart.events).toBe(0);
    expect(restore.restart.snapshots).toBeGreaterThan(0);
    expect(restore.join.joiner.aggregates + restore.join.incumbent.aggregates).toBe(restore.restart.aggregates);
    expect(restore.targets).toHaveLength(2);
    expect(run.stdout).toContain('| result |');
  });
});
