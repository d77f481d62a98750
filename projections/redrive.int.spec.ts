import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { CHANGES } from '../lib/change-feed';
import type { Db } from '../lib/db';
import { createKafka, createProducer } from '../lib/kafka';
import type { Projection } from '../lib/projection';
import { CHECKPOINTS, createProjectionWorker } from '../lib/projection-worker';
import { event } from '../test/events';
import { testNamespace } from '../test/namespace';
import { waitForCheckpoints } from '../test/projection-harness';
import { integration, unique } from '../test/support';
import { deviceProjection } from './device/projection';
import { REDRIVES } from '../lib/projection-worker';
import { redrive, redriveDb, type RedriveItem, type RedriveReport } from './redrive';

/**
 * Re-drive on the real stack: the device projection with a bug (renaming a device to certain names throws) dead-letters
 * those events; the fixed projection, under the same name, re-applies them once, through the projection's own role.
 */
const it_ = integration();
const ns = testNamespace(it_, 'test-redrive', { partitions: 3, database: { prefix: 'redrive', migrate: true } });
const { topics, cfg } = ns;
let owner: Db;
let db: Db;
let tools: Kafka;
let toolsAdmin: Admin;
let producer: Producer;

beforeAll(async () => {
  await ns.setup();
  owner = ns.database!.db;
  db = await redriveDb(cfg, owner, deviceProjection);
  // The CLI's principal: it may read the dead-letter topic, and nothing else writes through it.
  tools = createKafka(cfg, it_.logger, 'tools', unique('test-redrive'));
  toolsAdmin = tools.admin();
  await toolsAdmin.connect();
  producer = createProducer(it_.kafka);
  await producer.connect();
});
afterAll(async () => {
  await producer?.disconnect();
  await toolsAdmin?.disconnect();
  if (db && db !== owner) await db.destroy();
  await ns.teardown({ ignoreDropErrors: true });
  await it_.close();
});

/** The device projection, except that renaming a device to one of `names` throws (the bug). */
const withBug = (names: readonly string[], message: string): Projection => ({
  ...deviceProjection,
  apply(view, e) {
    if (e.type === 'device.updated' && names.includes(String(e.name))) throw new Error(`${message}: ${String(e.name)}`);
    deviceProjection.apply(view, e);
  },
});

const created = (id: string) => event('device.created', { aggregateId: id, aggregateVersion: 1, userId: 'u1', name: 'phone' });
const renamed = (id: string, version: number, name: string) =>
  event('device.updated', { aggregateId: id, aggregateVersion: version, userId: 'u1', name });

/** Runs a worker of `projection` until it has applied (or dead-lettered) everything on its topics. */
async function runWorker(projection: Projection): Promise<void> {
  const worker = createProjectionWorker({
    kafka: it_.kafka,
    db,
    eventLog: it_.eventLog,
    projection,
    topics: projection.topics(topics),
    deadLetterTopic: topics.deadLetters,
    groupId: `${topics.namespace}.projection.${projection.name}`,
    logger: it_.logger,
  });
  await worker.start();
  try {
    await waitForCheckpoints(await it_.admin(), owner, projection, topics, 60_000);
  } finally {
    await worker.stop();
  }
}

const run = (projection: Projection, opts: { fromOffset?: number; dryRun?: boolean } = {}) =>
  redrive({ kafka: tools, admin: toolsAdmin, db, eventLog: it_.eventLog, topics, logger: it_.logger }, { projection, ...opts });

/** Each aggregate's outcomes (sorted), the poison's under its key. */
const outcomes = (...reports: RedriveReport[]) => {
  const out: Record<string, string[]> = {};
  for (const i of reports.flatMap((r) => r.items)) (out[i.aggregateId ?? '?'] ??= []).push(i.outcome);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.sort()]));
};
const item = (r: RedriveReport, aggregateId: string) => r.items.find((i) => i.aggregateId === aggregateId) as RedriveItem;

const devices = () => owner('devices').orderBy('device_id').select('device_id', 'name', 'version');
const totals = async () => {
  const t = await owner(CHECKPOINTS).where({ projection: 'device' }).sum({ applied: 'applied_events', dead: 'dead_letters' }).first();
  return { applied: Number(t?.applied), dead: Number(t?.dead) };
};
const records = () =>
  owner(REDRIVES)
    .orderBy('aggregate_id')
    .select('aggregate_id', 'event_type', 'outcome', 'error', 'attempts', 'source_topic', 'source_offset');
/** The names a device's rows had in the change feed, in order. */
const feed = async (key: string) =>
  ((await owner(CHANGES).where({ kind: 'device', key }).orderBy('id')) as Array<{ row: { name: string } }>).map((c) => c.row.name);
const everything = async () => ({
  devices: await devices(),
  checkpoints: await owner(CHECKPOINTS).orderBy(['topic', 'partition']),
  records: await records(),
});

function cli(...args: string[]) {
  const res = spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, '..', 'scripts', 'redrive.ts'), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, TOPIC_NAMESPACE: topics.namespace, DATABASE_SCHEMA: cfg.database.schema, LOG_LEVEL: 'error' },
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('re-driving dead letters', () => {
  test('a fixed handler re-applies each dead letter once; a still-failing one stays dead until the next fix; a dry run writes nothing', async () => {
    // dev-a: renamed to a bad name (fixed by fix 1); dev-b: to another (fixed by fix 2 only); dev-c: to a bad name,
    // then renamed again (the re-driven event is superseded); and a record no registry can decode.
    await it_.eventLog.append(producer, topics.device.events, [
      created('dev-a'),
      renamed('dev-a', 2, 'bug-a'),
      created('dev-b'),
      renamed('dev-b', 2, 'bug-b'),
      created('dev-c'),
      renamed('dev-c', 2, 'bug-a'),
      renamed('dev-c', 3, 'c-final'),
    ]);
    await producer.send({ topic: topics.device.events, acks: -1, messages: [{ key: 'poison', value: Buffer.from('not avro at all') }] });
    await runWorker(withBug(['bug-a', 'bug-b'], 'bug'));
    expect(await totals()).toEqual({ applied: 4, dead: 4 });
    expect(await devices()).toEqual([
      { device_id: 'dev-a', name: 'phone', version: 1 },
      { device_id: 'dev-b', name: 'phone', version: 1 },
      { device_id: 'dev-c', name: 'c-final', version: 3 },
    ]);

    // Dry run: decoded and reported, nothing written.
    const fix1 = withBug(['bug-b'], 'still broken');
    const before = await everything();
    const dry = await run(fix1, { dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(outcomes(dry)).toEqual({
      'dev-a': ['would-redrive'],
      'dev-b': ['would-redrive'],
      'dev-c': ['would-redrive'],
      poison: ['failed'],
    });
    expect(item(dry, 'poison').error).toContain('wire format');
    expect(item(dry, 'dev-a')).toMatchObject({
      eventType: 'device.updated',
      source: { topic: topics.device.events, partition: expect.any(Number), offset: expect.stringMatching(/^\d+$/) },
      deadLetterError: 'bug: bug-a',
    });
    const later = await run(fix1, { dryRun: true, fromOffset: 1 });
    const at = (i: RedriveItem) => `${i.deadLetter.partition}@${i.deadLetter.offset}`;
    expect(later.items.map(at)).toEqual(dry.items.filter((i) => Number(i.deadLetter.offset) >= 1).map(at));
    expect(await everything()).toEqual(before);

    const feedBefore = { a: await feed('dev-a'), c: await feed('dev-c') };
    // Fix 1, re-driven twice at once: each event applied once in all; dev-c's rename changes nothing (superseded).
    const [r1, r2] = await Promise.all([run(fix1), run(fix1)]);
    expect(outcomes(r1, r2)).toEqual({
      'dev-a': ['already-applied', 'applied'],
      'dev-b': ['failed', 'failed'],
      'dev-c': ['already-applied', 'unchanged'],
      poison: ['failed', 'failed'],
    });
    expect(item(r1, 'dev-b').error).toBe('still broken: bug-b');
    expect(await devices()).toEqual([
      { device_id: 'dev-a', name: 'bug-a', version: 2 },
      { device_id: 'dev-b', name: 'phone', version: 1 },
      { device_id: 'dev-c', name: 'c-final', version: 3 },
    ]);
    expect(await totals()).toEqual({ applied: 6, dead: 2 });
    // The re-applied row reaches the change feed (GET /stream) as the worker's changes do; the superseded one adds none.
    expect(await feed('dev-a')).toEqual([...feedBefore.a, 'bug-a']);
    expect(await feed('dev-c')).toEqual(feedBefore.c);
    expect(await records()).toMatchObject([
      {
        aggregate_id: 'dev-a',
        event_type: 'device.updated',
        outcome: 'applied',
        error: null,
        attempts: 1,
        source_topic: topics.device.events,
      },
      { aggregate_id: 'dev-b', event_type: 'device.updated', outcome: 'failed', error: 'still broken: bug-b', attempts: 2 },
      { aggregate_id: 'dev-c', event_type: 'device.updated', outcome: 'applied', error: null, attempts: 1 },
      { aggregate_id: 'poison', event_type: null, outcome: 'failed', error: expect.stringContaining('wire format'), attempts: 2 },
    ]);

    // Again: nothing applied twice, the read model and the checkpoints as they were.
    const settled = { devices: await devices(), checkpoints: await owner(CHECKPOINTS).orderBy(['topic', 'partition']) };
    const again = await run(fix1);
    expect(outcomes(again)).toEqual({
      'dev-a': ['already-applied'],
      'dev-b': ['failed'],
      'dev-c': ['already-applied'],
      poison: ['failed'],
    });
    expect({ devices: await devices(), checkpoints: await owner(CHECKPOINTS).orderBy(['topic', 'partition']) }).toEqual(settled);

    // Fix 2 is the device projection as it is: the CLI re-drives with it, through the projection's role and the
    // tools principal; the poison stays failed, so it exits 1.
    const { status, stdout, stderr } = cli('device', '--json');
    expect({ status, stderr }).toEqual({ status: 1, stderr: '' });
    const report = JSON.parse(stdout) as RedriveReport;
    expect(outcomes(report)).toEqual({
      'dev-a': ['already-applied'],
      'dev-b': ['applied'],
      'dev-c': ['already-applied'],
      poison: ['failed'],
    });
    expect(await devices()).toEqual([
      { device_id: 'dev-a', name: 'bug-a', version: 2 },
      { device_id: 'dev-b', name: 'bug-b', version: 2 },
      { device_id: 'dev-c', name: 'c-final', version: 3 },
    ]);
    expect(await totals()).toEqual({ applied: 7, dead: 1 });
    expect(await owner(REDRIVES).where({ aggregate_id: 'dev-b' }).first()).toMatchObject({ outcome: 'applied', error: null, attempts: 4 });

    // The table and the summary line; a dry run through the CLI writes nothing either.
    const final = await everything();
    const text = cli('device', '--dry-run');
    expect(text.status).toBe(1);
    expect(text.stdout).toContain('device: 4 dead letter(s): 1 failed, 3 already applied (dry run: nothing written)');
    expect(text.stdout).toMatch(/dead letter.*source.*event.*aggregate.*outcome.*error/);
    expect(await everything()).toEqual(final);
  });
});
