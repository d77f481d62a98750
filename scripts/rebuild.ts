import cliProgress from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../lib/config';
import { vaultFor } from '../lib/pii';
import { createEventLog } from '../lib/event-log';
import { createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { BACKGROUND_NICENESS, lowerProcessPriority } from '../lib/priority';
import { createRegistry } from '../lib/registry';
import { PROJECTIONS } from '../platform/read-side';
import { rebuildProjection, type RebuildProgress, type RowDiff } from '../projections/rebuild';

/**
 * `npm run rebuild -- <projection> [--verify] [--keep]`: replays a read model's topics from offset 0 into a
 * shadow schema while the live model keeps serving, then swaps it in atomically (see projections/rebuild.ts).
 * A progress bar on a terminal, plain progress lines otherwise.
 */
const MAX_ROWS_SHOWN = 50;

function progressReporter(name: string) {
  const started = Date.now();
  const secs = () => Math.max(0.001, (Date.now() - started) / 1000);
  const rate = (p: RebuildProgress) => Math.round(p.applied / secs());
  /** Time left at the pace so far (offsets per second since the start). */
  const eta = (p: RebuildProgress) => {
    if (p.done >= p.total) return '0s';
    if (p.done === 0) return '?';
    const left = Math.ceil(((p.total - p.done) * secs()) / p.done);
    return left >= 60 ? `${Math.floor(left / 60)}m${String(left % 60).padStart(2, '0')}s` : `${left}s`;
  };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${name} |{bar}| {percentage}% | {value}/{total} offsets | {applied} events | {rate} events/s | ETA {eta}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    let begun = false;
    return {
      update(p: RebuildProgress) {
        if (!begun) bar.start(Math.max(1, p.total), 0, { applied: 0, rate: 0, eta: '?' });
        begun = true;
        bar.setTotal(Math.max(1, p.total));
        bar.update(p.done, { applied: p.applied, rate: rate(p), eta: eta(p) });
      },
      stop: () => begun && bar.stop(),
    };
  }
  let lastLine = 0;
  return {
    update(p: RebuildProgress) {
      const done = p.done >= p.total;
      if (!done && Date.now() - lastLine < 2000) return;
      lastLine = Date.now();
      console.error(
        `${name}: ${p.done}/${p.total} offsets (${p.total > 0 ? Math.floor((100 * p.done) / p.total) : 100}%), ${p.applied} events, ${rate(p)} events/s, ETA ${eta(p)}`,
      );
    },
    stop: () => undefined,
  };
}

const show = (v: unknown) => (v instanceof Date ? v.toISOString() : JSON.stringify(v));

function printDiff(d: RowDiff): void {
  if (!d.rebuilt) return console.log(`- ${d.table}[${d.key}] only in the live model: ${JSON.stringify(d.live)}`);
  if (!d.live) return console.log(`+ ${d.table}[${d.key}] only in the rebuilt model: ${JSON.stringify(d.rebuilt)}`);
  console.log(
    `~ ${d.table}[${d.key}] ${d.columns.map((c) => `${c}: live ${show(d.live![c])} ≠ rebuilt ${show(d.rebuilt![c])}`).join('; ')}`,
  );
}

new Command('rebuild')
  .description('rebuild a read model from its topics (offset 0) in shadow tables and swap it in atomically, while the live one serves')
  .argument('<projection>', `one of: ${Object.keys(PROJECTIONS).join(', ')}`, (v: string) => {
    if (!PROJECTIONS[v]) throw new InvalidArgumentError(`one of ${Object.keys(PROJECTIONS).join(', ')}`);
    return v;
  })
  .option('--verify', 'rebuild and compare with the live model without swapping; print differing rows, exit 1 if any')
  .option('--keep', 'keep the old tables (in schema retired_<projection>_<stamp>), or with --verify the shadow schema')
  .option('--foreground', `normal CPU priority (default: niceness ${BACKGROUND_NICENESS} for this process and its local database sessions)`)
  .addHelpText(
    'after',
    `
Only the read model's tables are written (a shadow schema, then the swap): nothing is produced that
sagas or policies read. Projection workers and the query API keep running throughout.

Examples:
  npm run rebuild -- device
  npm run rebuild -- billing --verify`,
  )
  .action(async (name: string, o: { verify?: boolean; keep?: boolean; foreground?: boolean }) => {
    // The replay yields the CPU to the live workers and the query API it runs next to.
    if (!o.foreground) lowerProcessPriority();
    const cfg = loadConfig();
    const logger = createLogger(cfg.logLevel === 'info' ? 'warn' : cfg.logLevel, 'rebuild', { stderr: true });
    const kafka = createKafka(cfg, logger, 'projections', `${cfg.kafka.clientId}.rebuild`);
    const eventLog = createEventLog(createRegistry(cfg, 'reader'), undefined, { vault: vaultFor(cfg) });
    const progress = progressReporter(name);
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    const started = Date.now();
    const result = await rebuildProjection({
      cfg,
      kafka,
      eventLog,
      logger,
      projection: PROJECTIONS[name]!,
      verify: o.verify,
      keep: o.keep,
      background: !o.foreground,
      onProgress: (p) => progress.update(p),
      signal: abort.signal,
    }).finally(() => progress.stop());
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const { partitionsBehind, eventsApplied } = result.handover;
    const handover =
      partitionsBehind === 0
        ? 'both sides were level at the handover'
        : `at the handover ${partitionsBehind} partition(s) were behind the other side; ${eventsApplied} event(s) applied to level them`;
    if (o.verify) {
      for (const d of result.differences.slice(0, MAX_ROWS_SHOWN)) printDiff(d);
      if (result.differences.length > MAX_ROWS_SHOWN) console.log(`… and ${result.differences.length - MAX_ROWS_SHOWN} more`);
      console.log(
        result.differences.length === 0
          ? `${name}: the rebuilt model equals the live one (${result.appliedEvents} events replayed in ${secs}s)`
          : `${name}: ${result.differences.length} row(s) differ between the live and the rebuilt model`,
      );
      console.log(`${name}: ${handover}`);
      if (o.keep) console.log(`shadow schema kept: ${result.shadowSchema}`);
      process.exitCode = result.differences.length === 0 ? 0 : 1;
      return;
    }
    console.log(
      `${name}: rebuilt from ${result.offsets} offsets (${result.appliedEvents} events) in ${secs}s in schema ${result.shadowSchema}, and swapped in`,
    );
    console.log(`${name}: live workers paused for the handover only; ${handover}`);
    console.log(o.keep ? `old tables kept in schema ${result.retiredSchema}` : `old tables dropped (with schema ${result.retiredSchema})`);
  })
  .parseAsync()
  .then(() => process.exit())
  .catch((err: unknown) => {
    console.error(`rebuild: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
