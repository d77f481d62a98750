import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import knex from 'knex';
import { registerSchemas } from '../../lib/bootstrap';
import type { AnyEvent } from '../../lib/event-log';
import { createProducer } from '../../lib/kafka';
import { loadEventSchemas } from '../../lib/schemas';
import { subjectFor } from '../../lib/topics';
import { integration, unique } from '../../test/support';

/** Runs the stack CLI the way a user does and returns its output. */
function stackCli(...args: string[]): string {
  const res = spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, '..', 'stack.ts'), ...args], {
    encoding: 'utf8',
    timeout: 240_000,
  });
  if (res.status !== 0) throw new Error(`stack ${args.join(' ')} exited ${res.status}: ${res.stderr}${res.stdout}`);
  return res.stdout;
}

const statusOf = () => JSON.parse(stackCli('status', '--json').trim() || '[]') as Array<{ name: string; state: string; pid?: number }>;

describe('local stack', () => {
  test('`up` twice is a no-op: every component reports already running and keeps its pid', () => {
    const before = statusOf();
    const out = stackCli('up');
    for (const c of before.filter((s) => s.state === 'up')) {
      expect(out).toMatch(new RegExp(`${c.name}\\s+already running \\(pid ${c.pid}\\)`));
    }
    expect(statusOf()).toEqual(before);
  });

  test('after `down` and `up`, topics, their events, the schema ids and the database survive', async () => {
    const it_ = integration();
    const schema = loadEventSchemas().find((s) => s.type === 'user.created')!;
    const topic = await it_.topic('restart', 2);
    const [registered] = await registerSchemas(it_.registry, topic, [schema]);
    const event: AnyEvent = {
      eventId: randomUUID(),
      type: 'user.created',
      aggregateId: randomUUID(),
      aggregateVersion: 1,
      occurredAt: Date.now(),
      correlationId: randomUUID(),
      causationId: null,
      tenantId: 't1',
      username: 'restart-check',
      email: 'restart@example.com',
      phone: null,
      status: 'active',
    };
    const producer = createProducer(it_.kafka);
    await producer.connect();
    await it_.eventLog.append(producer, topic, [event]);
    await producer.disconnect();
    const table = unique('restart_check').replace(/\W/g, '_');
    const db = knex({ client: 'pg', connection: it_.cfg.database.url });
    await db.schema.createTable(table, (t) => t.text('value'));
    await db(table).insert({ value: event.eventId });
    await db.destroy();
    await it_.close();

    const down = stackCli('down');
    expect(down).toMatch(/kafka\s+stopped/);
    expect(down).toMatch(/registry\s+stopped/);
    expect(
      statusOf()
        .filter((s) => s.name !== 'postgres' || s.state !== 'external')
        .every((s) => s.state === 'down'),
    ).toBe(true);

    stackCli('up');
    expect(statusOf().every((s) => s.state === 'up' || s.state === 'external')).toBe(true);

    const after = integration();
    try {
      const subject = subjectFor(topic, schema.fullName);
      expect(await after.registry.idOf(subject, schema.json)).toBe(registered!.id);
      expect(await after.registry.compatibility(subject)).toBe('BACKWARD');
      const [read] = await after.readRaw(topic, 1);
      expect((await after.eventLog.decodeMessage(topic, read!.partition, read!.message)).event).toEqual(event);
      const db2 = knex({ client: 'pg', connection: after.cfg.database.url });
      expect(await db2(table).pluck('value')).toEqual([event.eventId]);
      await db2.schema.dropTable(table);
      await db2.destroy();
    } finally {
      await after.close();
    }
  });
});
