import { randomUUID } from 'node:crypto';
import { createEventLog, type AnyEvent } from '../lib/event-log';
import { createKafka, createProducer } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { createRegistry } from '../lib/registry';
import { readPartition } from '../lib/topic-reader';
import { subjectFor, topicsFor } from '../lib/topics';
import { bootstrap } from './bootstrap';
import { createStack, status, up, StackError } from './stack/index';

/**
 * `npm start`: brings the local stack up, creates the topics, registers the schemas, then shows a smoke round
 * trip: one event appended through the registry and read back decoded from the topic.
 */
async function main(): Promise<void> {
  const t0 = Date.now();
  const stack = createStack();
  const cfg = stack.cfg.platform;
  console.log('== local stack');
  await up(stack);
  console.log('\n== topics and schemas');
  await bootstrap(cfg, (line) => (line.startsWith('schema ') && !line.startsWith('schemas') ? undefined : console.log(line)));

  console.log('\n== smoke round trip');
  const logger = createLogger('fatal', 'start');
  const kafka = createKafka(cfg, logger, 'smoke');
  const registry = createRegistry(cfg.registry.url);
  const eventLog = createEventLog(registry);
  const producer = createProducer(kafka);
  const smoke = topicsFor(cfg.topics.namespace).smoke.events;
  await producer.connect();
  const userId = randomUUID();
  const event: AnyEvent = {
    eventId: randomUUID(),
    type: 'user.created',
    aggregateId: userId,
    aggregateVersion: 1,
    occurredAt: Date.now(),
    correlationId: randomUUID(),
    causationId: null,
    tenantId: 'smoke',
    username: `smoke-${userId.slice(0, 8)}`,
    email: `smoke-${userId.slice(0, 8)}@example.com`,
    phone: null,
    status: 'active',
  };
  const sent = Date.now();
  const [meta] = await eventLog.append(producer, smoke, [event]);
  await producer.disconnect();
  if (!meta?.baseOffset) throw new Error('Kafka acknowledged no offset for the smoke event');
  const [back] = await readPartition(kafka, eventLog, {
    topic: smoke,
    partition: meta.partition,
    offset: meta.baseOffset,
    limit: 1,
  });
  if (!back) throw new Error(`the smoke event was not read back from ${smoke}/${meta.partition}@${meta.baseOffset}`);
  const same = JSON.stringify(back.event) === JSON.stringify(event);
  console.log(`appended  ${event.type} ${event.eventId} to ${smoke} partition ${meta.partition} offset ${meta.baseOffset} (acks=all)`);
  console.log(`read back schema id ${back.schemaId} (subject ${subjectFor(smoke, 'cloudphone.events.user.UserCreated')}), key ${back.key}`);
  console.log(`payload   ${JSON.stringify(back.event)}`);
  console.log(`round trip ${Date.now() - sent} ms, decoded event ${same ? 'equals' : 'DIFFERS FROM'} the one sent`);
  if (!same) process.exitCode = 1;

  console.log('\n== status');
  console.table(
    (await status(stack)).map((r) => ({ component: r.name, state: r.state, version: r.version, port: r.port, pid: r.pid ?? '-' })),
  );
  console.log(`Kafka:           ${cfg.kafka.brokers.join(',')}`);
  console.log(`Schema registry: ${cfg.registry.url}`);
  console.log(`PostgreSQL:      ${cfg.database.url.replace(/:[^:@/]*@/, ':***@')}`);
  console.log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)}s — the stack keeps running; stop it with: npm run stack -- down`);
}

main().catch((err: unknown) => {
  console.error(err instanceof StackError ? `start: ${err.message}` : err);
  process.exit(1);
});
