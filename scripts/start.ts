import { randomUUID } from 'node:crypto';
import { signToken } from '../lib/auth';
import { createEventLog } from '../lib/event-log';
import { toolsGroup } from '../lib/acls';
import { loadConfig } from '../lib/config';
import { createKafka } from '../lib/kafka';
import { tableEndpoints } from '../lib/command-table';
import { createLogger } from '../lib/logger';
import { startTracing } from '../lib/tracing';
import { createRegistry } from '../lib/registry';
import { readPartition } from '../lib/topic-reader';
import { startPolicies } from '../platform/reactions';
import { PROJECTIONS, startProjections } from '../platform/read-side';
import { readSideApi } from '../platform/read-side';
import { COMMAND_TABLES, startCommandSide } from '../platform/commands';
import { bootstrap } from './bootstrap';
import { createStack, status, up, StackError } from './stack/index';

/**
 * The APIs, one line each (README lists them with a curl example): every command route from the command tables
 * (services/<aggregate>/routes.ts), then the rest. Commands need a Bearer token except the sign-up.
 */
const ENDPOINTS = [
  ...COMMAND_TABLES.flatMap(tableEndpoints),
  'GET    /devices /users /orders /billing/sessions /billing/usage /notifications',
  'Bearer token for all but the sign-up: npm run token -- --user <id> --tenant <t> [--role tenant_admin]',
  'GET    /projections/status         checkpoints, lag and dead letters per projection and partition (operator token: npm run token -- --ops)',
  'GET    /openapi.json               the OpenAPI 3.1 document of both APIs (no token)',
  'GET    /metrics                    Prometheus metrics (projection lag, applied events, dead letters; operator token)',
];

/**
 * `npm start`: brings the local stack up, creates the topics, registers the schemas, starts the command API,
 * and shows a round trip through it: a user and a device created over HTTP, their events read back decoded
 * from Kafka. Runs until Ctrl-C; the stack keeps running after that (`npm run stack -- down` stops it).
 */
async function main(): Promise<void> {
  const t0 = Date.now();
  const stack = createStack();
  console.log('== local stack');
  await up(stack);
  // Read once the stack is up: on a first run, `up` makes the credentials the configuration reads.
  // Traced into STACK_DIR/traces unless TRACING says otherwise: `npm run trace -- <correlation id>` prints a command's tree.
  const cfg = loadConfig({ ...process.env, TRACING: process.env.TRACING ?? 'file' });
  console.log('\n== topics and schemas');
  await bootstrap(cfg, (line) => (line.startsWith('schema ') ? undefined : console.log(line)));

  console.log('\n== projections, command API, sagas and policies');
  const logger = createLogger(cfg.logLevel === 'info' ? 'warn' : cfg.logLevel, 'platform');
  const tracing = startTracing(cfg.tracing, 'cloudphone');
  const read = await startProjections(cfg, { logger });
  console.log(`projection workers running: ${Object.keys(PROJECTIONS).join(', ')} (migrations applied)`);
  const side = await startCommandSide(cfg, { logger, ...readSideApi(read, cfg) });
  console.log(`command API listening on ${side.url} (instance ${side.instanceId})`);
  const policies = await startPolicies(cfg, { bus: side.bus, logger });
  console.log(
    `sagas and policies running: purchase-plan (payment timeout ${cfg.sagas.paymentTimeoutMs / 1000}s, quota ${cfg.sagas.deviceQuota}), user-lifecycle, device-agent, notifications`,
  );

  console.log('\n== round trip: HTTP → command processor → Kafka → decoded back');
  const tag = randomUUID().slice(0, 8);
  // The sign-up is open (tenant from X-Tenant-Id); then the user acts with their own token.
  let credentials: Record<string, string> = { 'X-Tenant-Id': 'demo' };
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${side.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...credentials },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as { id: string; version: number; position: { topic: string; partition: number; offset: string } };
    console.log(`POST ${path} → ${res.status} ${JSON.stringify(json)}`);
    if (!res.ok) throw new Error(`${path} answered ${res.status}`);
    return json;
  };
  const user = await post('/users', { username: `demo-${tag}`, email: `demo-${tag}@example.com` });
  credentials = { Authorization: `Bearer ${signToken(cfg.auth, { userId: user.id, tenantId: 'demo', role: 'user' })}` };
  console.log(`the user's token: npm run token -- --user ${user.id} --tenant demo`);
  const spec = { cpuCores: 4, memoryMb: 8192, storageGb: 64, androidVersion: '13' };
  const device = await post('/devices', { userId: user.id, name: 'demo phone', spec, tier: 'standard', region: 'cn-east' });
  const started = await post(`/devices/${device.id}/start`, {});
  const kafka = createKafka(cfg, createLogger('fatal', 'start'), 'tools', 'start');
  const eventLog = createEventLog(createRegistry(cfg, 'reader'));
  const { topic, partition, offset } = device.position; // the device's events: created, then started
  if (started.position.partition !== partition) throw new Error('a device’s events must share one partition');
  for (const r of await readPartition(kafka, eventLog, {
    topic,
    partition,
    offset,
    limit: 2,
    group: toolsGroup(cfg.topics.namespace, 'start'),
  })) {
    console.log(`${r.topic}/${r.partition}@${r.offset} schema ${r.schemaId} key ${r.key}: ${JSON.stringify(r.event)}`);
  }

  console.log('\n== status');
  console.table(
    (await status(stack)).map((r) => ({ component: r.name, state: r.state, version: r.version, port: r.port, pid: r.pid ?? '-' })),
  );
  console.log(`Command API:     ${side.url}`);
  for (const e of ENDPOINTS) console.log(`  ${e}`);
  console.log(`Kafka:           ${cfg.kafka.brokers.join(',')}`);
  console.log(`Schema registry: ${cfg.registry.url}`);
  console.log(`PostgreSQL:      ${cfg.database.url.replace(/:[^:@/]*@/, ':***@')}`);
  console.log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)}s — Ctrl-C stops the API; the stack keeps running (npm run stack -- down)`);

  const shutdown = async () => {
    console.log('\nstopping the command API and the projection workers…');
    await policies.stop();
    await side.stop();
    await read.stop();
    await tracing.shutdown();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof StackError ? `start: ${err.message}` : err);
  process.exit(1);
});
