import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { devKey } from '../../lib/auth';
import type { Component } from './component';
import { loadStackConfig, type StackConfig } from './config';
import { describeNodes, externalKafka, kafkaBrokers, kafkaNodes } from './kafka';
import { embeddedPostgres, ensureDatabases, ensureRoles, externalPostgres } from './postgres';
import { waitUntil } from '../../lib/wait';
import { cmdline, isPortOpen, portOwner, StackError, terminate } from './processes';
import { apicurioRegistry, externalRegistry } from './registry';

export { StackError } from './processes';
export { loadStackConfig, type StackConfig } from './config';

/** Matches the command line of any process started by a CloudPhone stack (of any checkout). */
const OURS = /cloudphone[.-]stack/;

export interface Stack {
  cfg: StackConfig;
  postgres: Component;
  /** The Kafka nodes of the chosen layout: the single broker (`kafka`), or `kafka-1`…`kafka-3` with STACK_BROKERS=3. */
  brokers: Component[];
  /** The nodes of the other layout: `down` stops them too when they run. */
  otherBrokers: Component[];
  registry: Component;
  all: Component[];
}

export function createStack(cfg: StackConfig = loadStackConfig()): Stack {
  const postgres = cfg.platform.database.embedded ? embeddedPostgres(cfg) : externalPostgres(cfg);
  const cluster = cfg.kafka.brokers === 3;
  const brokers = cfg.external ? [externalKafka(cfg)] : kafkaBrokers(cfg, cluster ? 'cluster' : 'single');
  const otherBrokers = cfg.external ? [] : kafkaBrokers(cfg, cluster ? 'single' : 'cluster');
  const registry = cfg.external ? externalRegistry(cfg) : apicurioRegistry(cfg);
  return { cfg, postgres, brokers, otherBrokers, registry, all: [postgres, ...brokers, registry] };
}

export type Log = (line: string) => void;

function lastLines(file: string, n = 15): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
}

/** Frees the component's port when a CloudPhone stack of another checkout holds it and `replace` is set. */
async function claimPort(c: Component, replace: boolean, log: Log): Promise<void> {
  if (!(await isPortOpen(c.port))) return;
  const owner = await portOwner(c.port);
  const cmd = owner !== undefined ? cmdline(owner) : '';
  const ours = OURS.test(cmd);
  if (owner !== undefined && ours && replace) {
    log(`${c.name}: replacing a CloudPhone stack of another checkout (pid ${owner}) on port ${c.port}`);
    await terminate(owner, 30_000, 'SIGINT');
    if (await waitUntil(async () => !(await isPortOpen(c.port)), 15_000)) return;
  }
  const who = owner !== undefined ? `pid ${owner} (${cmd.slice(0, 160)})` : 'a process this user cannot see';
  const hint = ours
    ? 'it is a CloudPhone stack of another checkout: stop it there, or run `npm run stack -- up --replace`'
    : 'stop it or choose another port';
  throw new StackError(c.name, `port is already in use by ${who}, not by this stack; ${hint}`, { port: c.port, logFile: c.logFile });
}

/** Brings one component up; a no-op when this stack already runs it healthy. Returns what it did. */
async function bringUp(c: Component, cfg: StackConfig, replace: boolean, log: Log): Promise<string> {
  const started = Date.now();
  const healthy = (ms: number) => waitUntil(() => c.isHealthy(), ms);
  if (c.external) {
    if (await healthy(cfg.startTimeoutMs)) return `external, reachable on port ${c.port}`;
    throw new StackError(c.name, `the external ${c.name} does not answer`, { port: c.port });
  }
  const own = c.ownPid();
  if (own !== undefined) {
    if (await healthy(cfg.startTimeoutMs)) return `already running (pid ${own})`;
    throw new StackError(c.name, `runs as pid ${own} but is not healthy; see \`npm run stack -- logs ${c.name}\``, c);
  }
  await claimPort(c, replace, log);
  await c.prepare();
  await c.start();
  const ok = await waitUntil(async () => {
    if (c.ownPid() === undefined) throw new StackError(c.name, 'process exited during start-up', c);
    return c.isHealthy();
  }, cfg.startTimeoutMs).catch((err: unknown) => {
    if (err instanceof StackError) throw new StackError(c.name, `${err.message.replace(`${c.name}: `, '')}\n${lastLines(c.logFile)}`, c);
    throw err;
  });
  if (!ok) {
    throw new StackError(c.name, `did not become healthy within ${cfg.startTimeoutMs / 1000}s\n${lastLines(c.logFile)}`, c);
  }
  return `started in ${((Date.now() - started) / 1000).toFixed(1)}s (pid ${c.ownPid()})`;
}

export async function up(stack: Stack, opts: { replace?: boolean; log?: Log } = {}): Promise<void> {
  const log = opts.log ?? ((l) => console.log(l));
  const { cfg } = stack;
  mkdirSync(cfg.logsDir, { recursive: true });
  const one = async (c: Component) => log(`${c.name.padEnd(9)} ${await bringUp(c, cfg, opts.replace ?? false, log)}`);
  // PostgreSQL first (the registry stores its schemas there); Kafka and the registry then start side by side.
  await one(stack.postgres);
  if (cfg.platform.database.embedded) await ensureRoles(cfg);
  else await ensureDatabases(cfg.platform.database.url);
  // A cluster's nodes start together: none is healthy before a majority of the quorum runs.
  await Promise.all([...stack.brokers.map(one), one(stack.registry)]);
  // The development signing key (lib/auth.ts): made once, so `npm run token` and every process agree on it.
  if (cfg.platform.auth.devKeyFile)
    log(`auth      development signing key ${devKey(cfg.platform.auth.devKeyFile).kid} (${cfg.platform.auth.devKeyFile})`);
}

export async function down(stack: Stack, log: Log = (l) => console.log(l)): Promise<void> {
  for (const c of [stack.registry, ...stack.brokers, ...stack.otherBrokers, stack.postgres]) {
    if (c.external) continue;
    const pid = c.ownPid();
    if (pid === undefined) {
      if (!stack.otherBrokers.includes(c)) log(`${c.name.padEnd(9)} not running`);
      continue;
    }
    await c.stop();
    log(`${c.name.padEnd(9)} stopped (pid ${pid})`);
  }
}

export interface ComponentStatus {
  name: string;
  state: 'up' | 'down' | 'unhealthy' | 'external' | 'foreign';
  version: string;
  port: number;
  pid?: number;
  /** How clients authenticate, probed now (undefined when the component is down). */
  auth?: string;
  /** A cluster node's KRaft role and the partitions it leads, hosts under-replicated and offline. */
  detail?: string;
  log: string;
}

export async function status(stack: Stack): Promise<ComponentStatus[]> {
  const nodes = stack.cfg.external || stack.brokers.length === 1 ? [] : kafkaNodes(stack.cfg, 'cluster');
  const details = nodes.length > 0 ? await describeNodes(stack.cfg, nodes) : new Map<number, string>();
  const detailOf = (name: string) => details.get(nodes.find((n) => n.name === name)?.id ?? -1);
  return Promise.all(
    stack.all.map(async (c): Promise<ComponentStatus> => {
      const healthy = await c.isHealthy().catch(() => false);
      const pid = c.ownPid();
      let state: ComponentStatus['state'];
      if (c.external) state = healthy ? 'external' : 'down';
      else if (pid !== undefined) state = healthy ? 'up' : 'unhealthy';
      else state = (await isPortOpen(c.port)) ? 'foreign' : 'down';
      return {
        name: c.name,
        state,
        version: c.version(),
        port: c.port,
        pid: pid ?? (state === 'foreign' ? await portOwner(c.port) : undefined),
        auth: healthy ? await c.auth().catch((err: Error) => `unknown (${err.message})`) : undefined,
        detail: healthy ? detailOf(c.name) : undefined,
        log: c.logFile,
      };
    }),
  );
}
