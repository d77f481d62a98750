import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import { signToken } from '../lib/auth';
import { loadConfig, type Config } from '../lib/config';
import { createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { createRegistry } from '../lib/registry';
import { loadEventSchemas } from '../lib/schemas';
import type { VisibilityResult } from './load';
import { startBenchPlatform } from './platform';
import { runLoad, userWithDevices } from './stats';

/**
 * End-to-end visibility alone, at a rate you choose: the platform in this process as `npm start` runs it
 * (command side, projection workers, query API), renames at a constant rate over a pool of devices, each read back
 * with its consistency token by the load process (bench/load.ts). Prints accepted → visible and sent → visible,
 * and the CPU this process used — the harness behind the visibility figures of the README's profiling notes.
 */
const program = new Command('visibility')
  .option('-r, --rate <n>', 'commands per second', '100')
  .option('-s, --seconds <n>', 'seconds of load', '10')
  .option('-d, --devices <n>', 'devices the renames are spread over', '200')
  .parse();
const o = program.opts<{ rate: string; seconds: string; devices: string }>();

async function main(): Promise<void> {
  const base = loadConfig();
  const namespace = `bench-vis-${randomUUID().slice(0, 8)}`;
  const schema = namespace.replace(/\W/g, '_');
  const cfg: Config = { ...base, topics: { ...base.topics, namespace }, database: { ...base.database, schema } };
  const logger = createLogger('fatal');
  const admin = createKafka(cfg, logger, 'admin', 'bench').admin();
  await admin.connect();
  const deps = { admin, registry: createRegistry(cfg, 'writer'), schemas: loadEventSchemas() };
  const side = await startBenchPlatform(cfg, deps, logger);
  try {
    const token = signToken(cfg.auth, { userId: 'bench-admin', tenantId: 'acme', role: 'tenant_admin' });
    const headers = { 'Content-Type': 'application/json', 'X-Tenant-Id': 'acme', Authorization: `Bearer ${token}` };
    const deviceIds = await userWithDevices(side.url, headers, Number(o.devices));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const v = await runLoad<VisibilityResult>({
      kind: 'visibility',
      url: side.url,
      deviceIds,
      commandHeaders: headers,
      queryHeaders: { Authorization: `Bearer ${token}` },
      perSecond: Number(o.rate),
      seconds: Number(o.seconds),
    });
    const cpu = process.cpuUsage(cpu0);
    const ms = (x: number) => `${x.toFixed(1)} ms`;
    console.log(`${v.sent} commands at ${o.rate}/s over ${deviceIds.length} devices: ${v.visible} visible, ${v.failed} failed`);
    console.log(`accepted → visible  p50 ${ms(v.acceptedToVisible.p50)}  p99 ${ms(v.acceptedToVisible.p99)}`);
    console.log(`sent → visible      p50 ${ms(v.sendToVisible.p50)}  p99 ${ms(v.sendToVisible.p99)}`);
    console.log(`this process: ${(((cpu.user + cpu.system) / 1000 / (performance.now() - t0)) * 100).toFixed(0)} % of a core`);
  } finally {
    await side.stop();
    await admin.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
