import { Command } from 'commander';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { startTracing } from '../lib/tracing';
import { PROJECTIONS, startProjections } from '../platform/read-side';

/** Runs projection workers in this process until SIGINT/SIGTERM: `npm run projections -- [name…]`. */
const program = new Command('projections')
  .description('Run the projection workers (all of them, or the ones named)')
  .argument('[names...]', `any of: ${Object.keys(PROJECTIONS).join(', ')}`)
  .action(async (names: string[]) => {
    const cfg = loadConfig();
    const logger = createLogger(cfg.logLevel, 'projections');
    const tracing = startTracing(cfg.tracing, 'projections');
    const side = await startProjections(cfg, { names: names.length > 0 ? names : undefined, logger });
    logger.info({ projections: names.length > 0 ? names : Object.keys(PROJECTIONS) }, 'projection workers running');
    const stop = async () => {
      await side.stop();
      await tracing.shutdown();
      process.exit(0);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

program.parseAsync().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
