import { spawn } from 'node:child_process';
import path from 'node:path';
import { Command } from 'commander';
import { createStack, down, loadStackConfig, status, up, StackError } from './stack/index';

/** The stack config with `--brokers` (1 or 3) applied over STACK_BROKERS. */
function withBrokers(brokers: string | undefined) {
  if (brokers === undefined) return loadStackConfig();
  if (brokers !== '1' && brokers !== '3') throw new StackError('stack', `--brokers takes 1 or 3, not "${brokers}"`);
  process.env.STACK_BROKERS = brokers; // the platform config (bootstrap, clients) follows the same layout
  return loadStackConfig();
}

/** The local stack CLI: PostgreSQL, Apache Kafka (KRaft) and Apicurio Registry, no Docker. */
const program = new Command('stack').description('Run the local stack: PostgreSQL, Apache Kafka (KRaft) and Apicurio Registry, no Docker.');

program
  .command('up')
  .description('start every component that is not running (a no-op when all are up)')
  .option('--replace', 'stop a CloudPhone stack of another checkout that holds our ports, then start ours')
  .option('--brokers <n>', 'Kafka nodes: 1 (the development broker) or 3 (a KRaft cluster; the same as STACK_BROKERS=3)')
  .action(async (opts: { replace?: boolean; brokers?: string }) => {
    const started = Date.now();
    const stack = createStack(withBrokers(opts.brokers));
    await up(stack, { replace: opts.replace });
    console.log(`stack up in ${((Date.now() - started) / 1000).toFixed(1)}s — logs in ${stack.cfg.logsDir}`);
  });

program
  .command('down')
  .description('stop the components this stack started (data is kept)')
  .action(async () => down(createStack()));

program
  .command('status')
  .description('each component with its state, version, port, pid and log file')
  .option('--json', 'print JSON')
  .option('--brokers <n>', 'the Kafka layout to report: 1 or 3 (default STACK_BROKERS, else 1)')
  .action(async (opts: { json?: boolean; brokers?: string }) => {
    const rows = await status(createStack(withBrokers(opts.brokers)));
    if (opts.json) return console.log(JSON.stringify(rows, null, 2));
    console.table(
      rows.map((r) => ({
        component: r.name,
        state: r.state,
        version: r.version,
        port: r.port,
        pid: r.pid ?? '-',
        auth: r.auth ?? '-',
        ...(r.detail ? { node: r.detail } : {}),
      })),
    );
    console.log(`logs: ${[...new Set(rows.map((r) => path.dirname(r.log)))].join(', ')}`);
    if (rows.some((r) => r.state !== 'up' && r.state !== 'external')) process.exitCode = 3;
  });

program
  .command('logs')
  .description("print the last lines of a component's log (all components without an argument)")
  .argument('[component]', 'postgres | kafka | kafka-1…kafka-3 (STACK_BROKERS=3) | registry')
  .option('-n, --lines <n>', 'how many lines', '40')
  .option('-f, --follow', 'keep printing as the log grows')
  .action((name: string | undefined, opts: { lines: string; follow?: boolean }) => {
    const stack = createStack();
    const chosen = name ? stack.all.filter((c) => c.name === name) : stack.all.filter((c) => !c.external);
    if (chosen.length === 0)
      throw new StackError('logs', `unknown component "${name}"; one of: ${stack.all.map((c) => c.name).join(', ')}`);
    const args = ['-n', opts.lines, ...(opts.follow ? ['-F'] : []), ...chosen.map((c) => c.logFile)];
    spawn('tail', args, { stdio: 'inherit' }).on('exit', (code) => (process.exitCode = code ?? 0));
  });

program.parseAsync().catch((err: unknown) => {
  console.error(err instanceof StackError ? `stack: ${err.message}` : err);
  process.exit(1);
});
