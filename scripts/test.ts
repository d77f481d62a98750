import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../lib/config';
import { bootstrap } from './bootstrap';
import { createStack, loadStackConfig, up } from './stack/index';

/**
 * `npm test`: brings the local stack up (a no-op when it runs), bootstraps topics and schemas, runs the unit,
 * integration and e2e tests, then the restart tests (which stop and start the stack) on their own, then the fault
 * suite (which kills and restarts the stack's processes under load), then the cluster fault suite (the same on a
 * three-node Kafka cluster it brings up and stops), and ends with one summary line. Extra
 * arguments go to jest as they are, e.g. `npm test -- lib/event-log`; `npm run test:faults` runs the fault suite.
 */
interface JestSummary {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numFailedTestSuites: number;
  numRuntimeErrorTestSuites: number;
  success: boolean;
}

const root = path.resolve(__dirname, '..');
const jestBin = require.resolve('jest/bin/jest');

function runJest(name: string, args: string[]): JestSummary {
  const out = path.join(root, '.stack', `jest-${name}.json`);
  rmSync(out, { force: true });
  const res = spawnSync(process.execPath, [jestBin, '--json', `--outputFile=${out}`, ...args], { cwd: root, stdio: 'inherit' });
  if (!existsSync(out)) {
    console.error(`test: jest (${name}) produced no report (exit ${res.status ?? res.signal})`);
    return {
      numPassedTests: 0,
      numFailedTests: 0,
      numPendingTests: 0,
      numTodoTests: 0,
      numFailedTestSuites: 1,
      numRuntimeErrorTestSuites: 1,
      success: false,
    };
  }
  return JSON.parse(readFileSync(out, 'utf8')) as JestSummary;
}

/**
 * The browser of the console's e2e test (platform/console/console.e2e.spec.ts): Debian's chromium, driven by
 * puppeteer-core (which downloads none). Installed with apt-get when missing, as .ci/run installs docker-compose.
 */
const CHROMIUM = '/usr/bin/chromium';
function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  console.log(`test: ${CHROMIUM} is missing; installing chromium with apt-get`);
  const apt = (...args: string[]) => spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'] }).status === 0;
  if (!apt('install', '-y', '-qq', 'chromium') && !(apt('update', '-qq') && apt('install', '-y', '-qq', 'chromium'))) {
    console.error('test: could not install chromium (apt-get); the console browser test will fail');
  }
}

async function main(): Promise<number> {
  const extra = process.argv.slice(2);
  mkdirSync(path.join(root, '.stack'), { recursive: true });
  ensureChromium();
  const stack = createStack();
  console.log('test: bringing the local stack up');
  await up(stack);
  await bootstrap(loadConfig(), () => undefined); // read after `up`, which makes the credentials on a first run

  const runs: JestSummary[] = [];
  if (extra.length > 0) {
    runs.push(runJest('selected', extra));
  } else {
    runs.push(runJest('main', ['--selectProjects', 'unit', 'integration', 'e2e']));
    runs.push(runJest('restart', ['--selectProjects', 'restart', '--runInBand']));
    // The fault suite breaks the stack's own processes under load (faults/): alone, one scenario at a time, last.
    runs.push(runJest('faults', ['--selectProjects', 'faults', '--runInBand', '--forceExit']));
    // The same books on a three-node Kafka cluster losing nodes (faults/cluster/): the specs bring the cluster up
    // beside the single broker; it is stopped after, to give its memory back.
    runs.push(runJest('cluster', ['--selectProjects', 'cluster', '--runInBand', '--forceExit']));
    for (const node of createStack(loadStackConfig({ ...process.env, STACK_BROKERS: '3' })).brokers) await node.stop();
  }
  const sum = (k: keyof JestSummary) => runs.reduce((n, r) => n + Number(r[k]), 0);
  const passed = sum('numPassedTests');
  const failed = sum('numFailedTests') + sum('numRuntimeErrorTestSuites');
  const skipped = sum('numPendingTests') + sum('numTodoTests');
  const line = `Tests: ${passed} passed, ${failed} failed, ${skipped} skipped`;
  writeFileSync(path.join(root, '.stack', 'test-summary.txt'), `${line}\n`);
  console.log(`\n${line}`);
  return runs.every((r) => r.success) && passed > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`test: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
