import { spawn } from 'node:child_process';
import path from 'node:path';
import { Command } from 'commander';
import { createStack, down, status, up, StackError } from './stack/index';

/** The local stack CLI: PostgreSQL, Apache Kafka (KRaft) and Apicurio Registry, no Docker. */
const program = new Command('stack').description('Run the local stack: PostgreSQL, Apache Kafka (KRaft) and Apicurio Registry, no Docker.');

program
  .command('up')
  .description('start every component that is not running (a no-op when all are up)')
  .option('--replace', 'stop a CloudPhone stack of another checkout that holds our ports, then start ours')
  .action(async (opts: { replace?: boolean }) => {
    const started = Date.now();
    const stack = createStack();
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
  .action(async (opts: { json?: boolean }) => {
    const rows = await status(createStack());
    if (opts.json) return console.log(JSON.stringify(rows, null, 2));
    console.table(
      rows.map((r) => ({ component: r.name, state: r.state, version: r.version, port: r.port, pid: r.pid ?? '-', auth: r.auth ?? '-' })),
    );
    console.log(`logs: ${[...new Set(rows.map((r) => path.dirname(r.log)))].join(', ')}`);
    if (rows.some((r) => r.state !== 'up' && r.state !== 'external')) process.exitCode = 3;
  });

program
  .command('logs')
  .description("print the last lines of a component's log (all components without an argument)")
  .argument('[component]', 'postgres | kafka | registry')
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
