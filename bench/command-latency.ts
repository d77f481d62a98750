import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import { signToken } from '../lib/auth';
import { bootstrapNamespace, dropNamespace } from '../lib/bootstrap';
import { loadConfig } from '../lib/config';
import { createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { createRegistry } from '../lib/registry';
import { loadEventSchemas } from '../lib/schemas';
import { topicsFor } from '../lib/topics';
import { startCommandSide } from '../platform/commands';

/**
 * Latency of a single command through the whole write path (HTTP → command topic → single writer → Kafka
 * transaction → reply → HTTP), one client at a time, on the running local stack, in a namespace of its own.
 */
const program = new Command('command-latency').option('-n, --count <n>', 'commands per scenario', '300').parse();
const count = Number(program.opts<{ count: string }>().count);

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function main(): Promise<void> {
  const base = loadConfig();
  const namespace = `bench-${randomUUID().slice(0, 8)}`;
  const cfg = { ...base, topics: { ...base.topics, namespace } };
  const logger = createLogger('fatal');
  const admin = createKafka(cfg, logger, 'admin', 'bench').admin();
  await admin.connect();
  const deps = { admin, registry: createRegistry(cfg, 'writer'), schemas: loadEventSchemas() };
  const topics = topicsFor(namespace);
  await bootstrapNamespace(deps, topics, cfg.topics);
  const side = await startCommandSide(cfg, { logger, port: 0 });
  let headers: Record<string, string> = { 'Content-Type': 'application/json', 'X-Tenant-Id': 'bench' };
  const call = async (method: string, path: string, body: unknown) => {
    const res = await fetch(`${side.url}${path}`, { method, headers, body: JSON.stringify(body) });
    const json = (await res.json()) as { id: string };
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const spec = { cpuCores: 2, memoryMb: 4096, storageGb: 32, androidVersion: '13' };
  let userId = '';
  const device = () => call('POST', '/devices', { userId, name: 'd', spec, tier: 'basic', region: 'cn-east' });
  try {
    // The client is a signed-up user acting with their own token (a create also asks the user's writer about the user).
    userId = (await call('POST', '/users', { username: 'bench', email: 'bench@example.com' })).id;
    const token = signToken(cfg.auth, { userId, tenantId: 'bench', role: 'user' });
    headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` };
    const hot = (await device()).id;
    const scenarios: Array<[string, (i: number) => Promise<unknown>]> = [
      ['rename one device (same aggregate)', (i) => call('PATCH', `/devices/${hot}`, { name: `n${i}` })],
      ['create a device (new aggregate each)', () => device()],
    ];
    console.log(`${count} sequential commands per scenario, one client\n`);
    for (const [name, run] of scenarios) {
      for (let i = 0; i < 20; i++) await run(-i - 1); // warm-up
      const ms: number[] = [];
      for (let i = 0; i < count; i++) {
        const t = process.hrtime.bigint();
        await run(i);
        ms.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      ms.sort((a, b) => a - b);
      console.log(
        `${name.padEnd(40)} p50 ${pct(ms, 50).toFixed(1)} ms   p99 ${pct(ms, 99).toFixed(1)} ms   max ${ms.at(-1)!.toFixed(1)} ms`,
      );
    }
  } finally {
    await side.stop();
    await dropNamespace(deps, topics).catch(() => undefined);
    await admin.disconnect();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
