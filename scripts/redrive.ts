import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../lib/config';
import { createDb, migrate } from '../lib/db';
import { vaultFor } from '../lib/pii';
import { createEventLog } from '../lib/event-log';
import { createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { createRegistry } from '../lib/registry';
import { topicsFor } from '../lib/topics';
import { PROJECTIONS } from '../platform/read-side';
import { redrive, redriveDb, type RedriveItem, type RedriveOutcome, type RedriveReport } from '../projections/redrive';

/**
 * `npm run redrive -- <projection> [--from <offset>] [--dry-run] [--json]`: re-applies the projection's dead
 * letters with its handlers as they are now, each exactly once (see projections/redrive.ts), and prints what each
 * came to. Exit code 1 when some stayed failed, 2 when the re-drive could not run.
 */
const int = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} is a whole number`);
  return Number(v);
};

const LABELS: Record<RedriveOutcome, string> = {
  applied: 'applied',
  unchanged: 'applied but changed nothing',
  failed: 'failed',
  'already-applied': 'already applied',
  'not-reached': 'not reached by the worker yet',
  'would-redrive': 'would be re-driven',
};

const row = (i: RedriveItem) => ({
  'dead letter': `${i.deadLetter.partition}@${i.deadLetter.offset}`,
  source: i.source ? `${i.source.topic}[${i.source.partition}]@${i.source.offset}` : '?',
  event: i.eventType ?? '?',
  aggregate: i.aggregateId ?? '?',
  outcome: i.outcome,
  error: i.error ?? '',
});

function print(r: RedriveReport): void {
  if (r.items.length > 0) console.table(r.items.map(row));
  const counts = Object.entries(r.counts)
    .filter(([, n]) => n > 0)
    .map(([o, n]) => `${n} ${LABELS[o as RedriveOutcome]}`);
  console.log(
    `${r.projection}: ${r.items.length} dead letter(s)${counts.length > 0 ? `: ${counts.join(', ')}` : ''}${r.dryRun ? ' (dry run: nothing written)' : ''}`,
  );
  if (r.counts.unchanged > 0) {
    console.log(
      `${r.projection}: later events of their aggregates had superseded ${r.counts.unchanged} event(s); rebuild the read model: npm run rebuild -- ${r.projection}`,
    );
  }
}

new Command('redrive')
  .description('re-apply a projection’s dead letters with its handlers as they are now, each exactly once')
  .argument('<projection>', `one of: ${Object.keys(PROJECTIONS).join(', ')}`, (v: string) => {
    if (!PROJECTIONS[v]) throw new InvalidArgumentError(`one of ${Object.keys(PROJECTIONS).join(', ')}`);
    return v;
  })
  .option('--from <offset>', 'start at this offset of every partition of the dead-letter topic (default: its start)', int('--from'))
  .option('--dry-run', 'decode the dead letters and report what would be re-driven; write nothing')
  .option('--json', 'print the report as one JSON object')
  .addHelpText(
    'after',
    `
Each dead letter is applied in one transaction with its re-drive record and the checkpoint's counts, through the
projection's own database role. An event already re-driven is never applied again; one that still fails is
recorded as failed and tried again next time. An event a later event of its aggregate superseded changes nothing:
rebuild the read model then (npm run rebuild).

Examples:
  npm run redrive -- billing --dry-run
  npm run redrive -- device --from 120 --json`,
  )
  .action(async (name: string, o: { from?: number; dryRun?: boolean; json?: boolean }) => {
    const cfg = loadConfig();
    const logger = createLogger(cfg.logLevel === 'info' ? 'warn' : cfg.logLevel, 'redrive', { stderr: true });
    const projection = PROJECTIONS[name]!;
    const owner = createDb(cfg.database.url, { schema: cfg.database.schema, poolMax: 2 });
    // The tools principal reads every topic of the namespace (lib/acls.ts), the dead letters with them.
    const kafka = createKafka(cfg, logger, 'tools', `${cfg.kafka.clientId}.redrive`);
    const admin = kafka.admin();
    let db = owner;
    try {
      // A dry run writes nothing (it reads through the owner); a re-drive needs the re-drive records' table.
      if (!o.dryRun) {
        await migrate(owner, cfg.database.schema);
        db = await redriveDb(cfg, owner, projection);
      }
      await admin.connect();
      const eventLog = createEventLog(createRegistry(cfg, 'reader'), undefined, { vault: vaultFor(cfg, owner) });
      const topics = topicsFor(cfg.topics.namespace);
      const report = await redrive({ kafka, admin, db, eventLog, topics, logger }, { projection, fromOffset: o.from, dryRun: o.dryRun });
      if (o.json) console.log(JSON.stringify(report));
      else print(report);
      process.exitCode = report.counts.failed > 0 ? 1 : 0;
    } finally {
      await admin.disconnect().catch(() => undefined);
      if (db !== owner) await db.destroy();
      await owner.destroy();
    }
  })
  .parseAsync()
  .then(() => process.exit())
  .catch((err: unknown) => {
    console.error(`redrive: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  });
