import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { signToken } from '../lib/auth';
import { bootstrapNamespace, dropNamespace, type TopicLayout } from '../lib/bootstrap';
import type { Config } from '../lib/config';
import { createDb, migrate, type Db } from '../lib/db';
import type { DecodedRecord } from '../lib/event-log';
import { memoryStore, type Projection } from '../lib/projection';
import { CHECKPOINTS, createProjectionWorker } from '../lib/projection-worker';
import { loadEventSchemas } from '../lib/schemas';
import { topicsFor, type Topics } from '../lib/topics';
import { PROJECTIONS } from '../projections/platform';
import { createStack, loadStackConfig, up, type Stack } from '../scripts/stack/index';
import { isAlive } from '../scripts/stack/processes';
import { readModel, waitForCheckpoints } from '../test/projection-harness';
import { integration, unique, waitFor } from '../test/support';
import { sleep } from '../lib/wait';
import { createProducer } from '../lib/kafka';
import { forgetSeed, seed, seededTopics } from '../bench/seed';
import { anomalyLines, checkHistory, type Anomalies } from './history';

export { waitFor };

/**
 * The fault suite's harness: a platform of its own on the local stack (a namespace of topics and subjects, a
 * PostgreSQL schema), run as real processes — two API instances and a projection worker — a steady, bounded
 * load of commands through their HTTP APIs, the stack's own processes to break (through the stack module, never
 * by name: the stack is the one the environment names, so CI breaks the CI stack), and the books to check after.
 *
 * The load is scaled down by default (CI); FAULTS_FULL=1 runs the full version.
 */
export const FULL = ['1', 'true'].includes(process.env.FAULTS_FULL ?? '');
export const SCALE = FULL
  ? { lanes: 12, paceMs: 20, warmupMs: 15_000, afterMs: 20_000, registryDownMs: 30_000, stallMs: 40_000, pgDownMs: 20_000, kills: 5 }
  : { lanes: 4, paceMs: 100, warmupMs: 5_000, afterMs: 5_000, registryDownMs: 30_000, stallMs: 35_000, pgDownMs: 8_000, kills: 3 };

/** How long the API waits for a command's reply before answering 503 (short, so outages show quickly). */
export const COMMAND_TIMEOUT_MS = 4_000;
/** A request that has no answer after this is a hang (the user route sends up to three commands in a row). */
const HANG_MS = 3 * COMMAND_TIMEOUT_MS + 8_000;
/** The bound on recovery: every lane must succeed again within this once the broken part is back. */
export const RECOVERY_BOUND_MS = 120_000;
/** A command that has no definitive answer (2xx or 4xx) after retrying this long fails the books. */
const RESOLVE_BOUND_MS = 240_000;
const TENANT = 'faults';
const ROOT = path.resolve(__dirname, '..');

// ---------------------------------------------------------------------------------------------------------------
// processes

interface Proc {
  name: string;
  child: ChildProcess;
  url?: string;
  /** Killed on purpose by the scenario (its exit is not a failure). */
  killed: boolean;
}

/** The platform under test: its namespace, schema, processes, and helpers to read it back. */
export async function faultPlatform(scenario: string, opts: { layout?: Partial<TopicLayout> } = {}) {
  const stack: Stack = createStack(loadStackConfig());
  const it_ = integration();
  const namespace = unique(`faults-${scenario}`);
  const topics: Topics = topicsFor(namespace);
  const schemas = loadEventSchemas();
  const deps = { admin: await it_.admin(), registry: it_.registry, schemas };
  // Replicated as the configured cluster is (STACK_BROKERS=3: three replicas, two in sync), unless the scenario says.
  await bootstrapNamespace(deps, topics, { ...it_.cfg.topics, partitions: 6, ...opts.layout });
  const schema = unique(`faults_${scenario}`).replace(/\W/g, '_');
  const db: Db = createDb(it_.cfg.database.url, { schema, poolMax: 4 });
  await migrate(db, schema);
  const cfg: Config = { ...it_.cfg, topics: { ...it_.cfg.topics, namespace }, database: { ...it_.cfg.database, schema } };
  const logDir = path.join(stack.cfg.logsDir, 'faults');
  mkdirSync(logDir, { recursive: true });
  const procs = new Map<string, Proc>();
  const unexpectedExits: string[] = [];
  /** Per event topic and partition, the end offset of the log written before the platform started (`seedLog`). */
  const prior = new Map<string, bigint>();

  const env = (extra: Record<string, string>) => ({
    ...process.env,
    TOPIC_NAMESPACE: namespace,
    DATABASE_SCHEMA: schema,
    COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
    CONSISTENCY_TIMEOUT_MS: '2000',
    LOG_LEVEL: 'warn',
    ...extra,
  });

  function spawnProc(name: string, script: string, args: string[], extraEnv: Record<string, string>, exitExpected = false): Proc {
    const log = createWriteStream(path.join(logDir, `${scenario}-${name}.log`), { flags: 'a' });
    // One process, tsx as a loader: the tsx CLI runs the script in a child of its own, which a SIGKILL of the CLI
    // would leave running (the fault would kill nothing).
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, script), ...args], {
      env: env(extraEnv),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc: Proc = { name, child, killed: exitExpected };
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    child.once('exit', (code, signal) => {
      if (!proc.killed) unexpectedExits.push(`${name} exited (${code ?? signal}) at ${new Date().toISOString()}`);
    });
    procs.set(name, proc);
    return proc;
  }
  // Whatever happens to this test process, its children do not outlive it.
  const reap = () => {
    for (const p of procs.values()) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  };
  process.once('exit', reap);

  /**
   * Starts (or restarts) API instance `i`: the command side and the query API, on a free port. `ready` resolves
   * with what its writers restored once each of them holds partitions (the line `ready {…}` the process prints).
   */
  async function startApi(i: number): Promise<Proc & { ready: () => Promise<WritersReady> }> {
    const name = `api${i}`;
    const proc = spawnProc(name, 'faults/api-process.ts', [`${namespace}-api${i}`], { HTTP_PORT: '0' });
    let out = '';
    proc.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.url = await waitFor(() => /listening (\S+)/.exec(out)?.[1], { what: `${name} to listen`, timeoutMs: 180_000, intervalMs: 100 });
    const ready = () =>
      waitFor(() => /^ready (\{.*\})$/m.exec(out)?.[1], {
        what: `${name}'s writers to restore`,
        timeoutMs: RECOVERY_BOUND_MS,
        intervalMs: 50,
      }).then((json) => JSON.parse(json) as WritersReady);
    return Object.assign(proc, { ready });
  }

  /**
   * Writes a long history (about 17 events a user: devices, orders, installs, notifications — bench/seed.ts)
   * straight into the event topics before the platform starts: a log with no snapshots, as after an upgrade. The
   * books count it as the log the platform found, not as events of the load.
   */
  async function seedLog(events: number): Promise<number> {
    const producer = createProducer(it_.kafka);
    await producer.connect();
    try {
      const marker = await seed({ admin: deps.admin, producer, eventLog: it_.eventLog, stackDir: stack.cfg.dir }, topics, events);
      forgetSeed(stack.cfg.dir, namespace);
      for (const topic of seededTopics(topics)) {
        for (const o of await deps.admin.fetchTopicOffsets(topic)) prior.set(`${topic}/${o.partition}`, BigInt(o.high));
      }
      return marker.events;
    } finally {
      await producer.disconnect();
    }
  }

  /** Starts (or restarts) the projection worker process (`npm run projections`, every read model). */
  function startWorker(name = 'worker', extraEnv: Record<string, string> = {}): Proc {
    return spawnProc(name, 'projections/main.ts', Object.keys(PROJECTIONS), extraEnv);
  }

  /** Starts `npm run rebuild -- <projection>` (the rebuild CLI: replay into a shadow schema, then the swap). */
  function startRebuild(projection: string, name: string): Proc & { exited: Promise<number | null> } {
    const proc = spawnProc(name, 'scripts/rebuild.ts', [projection], {}, true);
    const exited = new Promise<number | null>((resolve) => proc.child.once('exit', (code) => resolve(code)));
    return Object.assign(proc, { exited });
  }

  async function kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = procs.get(name);
    if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
    proc.killed = true;
    const exited = new Promise((r) => proc.child.once('exit', r));
    proc.child.kill(signal);
    await exited;
  }

  /** Every decoded record of a topic (up to its current end), in partition order. */
  const records = (topic: string): Promise<DecodedRecord[]> => it_.readAll(topic);

  /** Waits until a projection's checkpoints in `database` reach the end of every partition of its topics. */
  async function caughtUp(p: Projection, database: Db = db, timeoutMs = RECOVERY_BOUND_MS): Promise<void> {
    await waitForCheckpoints(await it_.admin(), database, p, topics, timeoutMs);
  }

  return {
    scenario,
    stack,
    it: it_,
    cfg,
    namespace,
    topics,
    schema,
    db,
    procs,
    unexpectedExits,
    startApi,
    seedLog,
    /** Whether a record was in the log before the platform started (`seedLog`). */
    isPrior: (r: DecodedRecord) => BigInt(r.offset) < (prior.get(`${r.topic}/${r.partition}`) ?? 0n),
    startWorker,
    startRebuild,
    kill,
    records,
    caughtUp,
    apiUrls: () =>
      [...procs.values()]
        .filter((p) => p.name.startsWith('api') && !p.killed)
        .map((p) => p.url!)
        .filter(Boolean),
    /** The URL of API instance i (undefined while it is down). */
    apiUrl: (i: number) => {
      const p = procs.get(`api${i}`);
      return p && !p.killed ? p.url : undefined;
    },
    async stop(): Promise<void> {
      if (unexpectedExits.length > 0) console.log(`processes that exited on their own: ${unexpectedExits.join('; ')}`);
      for (const p of procs.values()) {
        p.killed = true;
        if (p.child.exitCode === null && p.child.signalCode === null) {
          const exited = new Promise((r) => p.child.once('exit', r));
          p.child.kill('SIGTERM');
          await Promise.race([exited, sleep(10_000)]);
          if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
        }
      }
      if (process.env.FAULTS_KEEP === '1') {
        console.log(`FAULTS_KEEP=1: namespace ${namespace} and schema ${schema} kept for inspection`);
        await db.destroy();
      } else {
        await db.raw('drop schema if exists ?? cascade', [schema]).catch(() => undefined);
        await db.destroy();
        await dropNamespace(deps, topics).catch(() => undefined);
      }
      await it_.close();
      process.off('exit', reap);
    },
  };
}

export type FaultPlatform = Awaited<ReturnType<typeof faultPlatform>>;

/** What an API process's writers restored by the time each held partitions (faults/api-process.ts). */
export interface WritersReady {
  readonly ms: number;
  readonly aggregates: number;
  readonly partitions: number;
  readonly snapshots: number;
  readonly events: number;
  readonly folded: number;
  readonly restoreMs: number;
}

const appliedEvents = async (db: Db): Promise<number> =>
  Number(((await db(CHECKPOINTS).sum({ n: 'applied_events' }).first()) as { n: number | null } | undefined)?.n ?? 0);

// ---------------------------------------------------------------------------------------------------------------
// the stack's own processes

/**
 * Sends a signal to a component of the stack this process is configured for (`kafka`, `kafka-2`, `registry`,
 * `postgres`…), by the pid the stack recorded, never by process name.
 */
export function signalComponent(stack: Stack, name: string, signal: NodeJS.Signals): number {
  const c = stack.all.find((x) => x.name === name);
  if (!c) throw new Error(`no component ${name} in the stack at ${stack.cfg.dir} (${stack.all.map((x) => x.name).join(', ')})`);
  const pid = c.ownPid();
  if (pid === undefined) throw new Error(`${name} is not running in the stack at ${stack.cfg.dir}`);
  process.kill(pid, signal);
  return pid;
}

export async function waitGone(pid: number): Promise<void> {
  await waitFor(() => (isAlive(pid) ? undefined : true), { what: `pid ${pid} to exit`, timeoutMs: 60_000, intervalMs: 100 });
}

/** Brings every component back (`up` leaves the running ones alone) and returns when all are healthy. */
export async function stackUp(stack: Stack): Promise<void> {
  await up(stack, { log: () => undefined });
}

// ---------------------------------------------------------------------------------------------------------------
// the load

type Outcome = number | 'conn-error' | 'hang';

interface Attempt {
  at: number;
  ms: number;
  instance: number;
  outcome: Outcome;
  retryAfter: string | null;
  /** A 2xx that replays an earlier result (Idempotent-Replayed), not a new write. */
  replayed?: boolean;
  detail?: string;
}

export interface CommandRecord {
  lane: number;
  seq: number;
  method: string;
  path: string;
  key: string;
  attempts: Attempt[];
  final?: { status: number; body: Record<string, unknown>; replayed: boolean };
}

interface QueryRecord {
  at: number;
  outcome: Outcome;
  retryAfter: string | null;
  /** Sent with a consistency token (it may wait for the projections, and answer 503 when they cannot catch up). */
  token: boolean;
}

const spec = { cpuCores: 2, memoryMb: 4096, storageGb: 32, androidVersion: '13' };

/**
 * A steady load: `lanes` clients, each a user's journey (register, a device started, renamed and stopped, orders
 * opened and paid, notifications sent and read, the user suspended and reactivated), one command at a time with
 * an Idempotency-Key, retried with that key on a 503, a broken connection or a hang until it gets a definitive
 * answer. Every few commands a lane reads its device back through the query API with its consistency token.
 */
export function startLoad(fp: FaultPlatform, opts: { lanes?: number; paceMs?: number } = {}) {
  const lanes = opts.lanes ?? SCALE.lanes;
  const paceMs = opts.paceMs ?? SCALE.paceMs;
  const commands: CommandRecord[] = [];
  const queries: QueryRecord[] = [];
  const inflight = [0, 0];
  let stopping = false;
  /** Set by `stop({ giveUp: true })`: unanswered commands stop being retried (a platform that cannot recover). */
  let givingUp = false;
  const auth = fp.cfg.auth;
  // The load acts as the tenant's operator (the command API takes the tenant and the actor from the token).
  const admin = signToken(auth, { userId: 'faults-operator', tenantId: TENANT, role: 'tenant_admin' });

  async function attempt(
    instance: number,
    method: string,
    p: string,
    body: unknown,
    key: string,
  ): Promise<{ a: Attempt; res?: { status: number; body: Record<string, unknown>; headers: Headers } }> {
    const at = Date.now();
    const url = fp.apiUrl(instance);
    if (!url) return { a: { at, ms: 0, instance, outcome: 'conn-error', retryAfter: null, detail: 'instance down' } };
    inflight[instance]!++;
    try {
      const res = await fetch(`${url}${p}`, {
        method,
        headers: { 'Content-Type': 'application/json', 'X-Tenant-Id': TENANT, 'Idempotency-Key': key, Authorization: `Bearer ${admin}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(HANG_MS),
      });
      const text = await res.text();
      const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      return {
        a: {
          at,
          ms: Date.now() - at,
          instance,
          outcome: res.status,
          retryAfter: res.headers.get('retry-after'),
          replayed: res.headers.get('idempotent-replayed') === 'true',
          detail: res.ok ? undefined : String(parsed.detail ?? ''),
        },
        res: { status: res.status, body: parsed, headers: res.headers },
      };
    } catch (err) {
      const e = err as Error & { cause?: Error };
      const hang = e.name === 'TimeoutError' || e.name === 'AbortError';
      return {
        a: {
          at,
          ms: Date.now() - at,
          instance,
          outcome: hang ? 'hang' : 'conn-error',
          retryAfter: null,
          detail: e.cause?.message ?? e.message,
        },
      };
    } finally {
      inflight[instance]!--;
    }
  }

  /** One command, retried with its key until a definitive answer; returns the final response body. */
  async function exec(lane: number, seq: number, method: string, p: string, body: unknown): Promise<Record<string, unknown>> {
    const rec: CommandRecord = { lane, seq, method, path: p, key: `${fp.namespace}-l${lane}-c${seq}`, attempts: [] };
    commands.push(rec);
    const started = Date.now();
    let instance = lane % 2;
    for (;;) {
      const { a, res } = await attempt(instance, method, p, body, rec.key);
      rec.attempts.push(a);
      if (res && res.status !== 503 && res.status < 500) {
        rec.final = { status: res.status, body: res.body, replayed: res.headers.get('idempotent-replayed') === 'true' };
        if (res.status >= 400) throw new Error(`lane ${lane}: ${method} ${p} answered ${res.status}: ${String(res.body.detail)}`);
        return res.body;
      }
      if (Date.now() - started > RESOLVE_BOUND_MS) throw new Error(`lane ${lane}: ${method} ${p} unresolved after ${RESOLVE_BOUND_MS}ms`);
      if (givingUp) throw new Error(`lane ${lane}: ${method} ${p} left unanswered (the load gave up)`);
      // Another instance next time; wait as told (Retry-After), or a moment after a broken connection.
      instance = fp.apiUrl(1 - instance) ? 1 - instance : instance;
      const wait = a.retryAfter ? Math.min(5, Number(a.retryAfter) || 1) * 1000 : 500;
      await sleep(wait);
    }
  }

  async function query(userId: string, deviceId: string, token: unknown): Promise<void> {
    const url = fp.apiUrl(0) ?? fp.apiUrl(1);
    if (!url) return;
    const at = Date.now();
    const bearer = signToken(auth, { userId, tenantId: TENANT, role: 'user' });
    try {
      const res = await fetch(`${url}/devices/${deviceId}`, {
        headers: { Authorization: `Bearer ${bearer}`, ...(typeof token === 'string' ? { 'X-Consistency-Token': token } : {}) },
        signal: AbortSignal.timeout(HANG_MS),
      });
      await res.text();
      queries.push({ at, outcome: res.status, retryAfter: res.headers.get('retry-after'), token: typeof token === 'string' });
    } catch (err) {
      const e = err as Error;
      queries.push({
        at,
        outcome: e.name === 'TimeoutError' || e.name === 'AbortError' ? 'hang' : 'conn-error',
        retryAfter: null,
        token: typeof token === 'string',
      });
    }
  }

  /** Reads one device back every 250 ms, without a consistency token: the query API must answer 200 or 503, whatever is down. */
  async function prober(): Promise<void> {
    const deviceId = await waitFor(() => probeTarget, { what: 'a device to probe', timeoutMs: 120_000, intervalMs: 100 });
    // Probing starts once the device is in the read model (before that a 404 is the right answer).
    await waitFor(
      async () => {
        const url = fp.apiUrl(0) ?? fp.apiUrl(1);
        const bearer = signToken(auth, { userId: deviceId.userId, tenantId: TENANT, role: 'user' });
        const res = await fetch(`${url}/devices/${deviceId.deviceId}`, { headers: { Authorization: `Bearer ${bearer}` } });
        return res.status === 200 ? true : undefined;
      },
      { what: 'the probed device to be in the read model', timeoutMs: 120_000, intervalMs: 200 },
    );
    while (!stopping) {
      await query(deviceId.userId, deviceId.deviceId, undefined);
      await sleep(250);
    }
  }
  let probeTarget: { userId: string; deviceId: string } | undefined;

  async function lane(n: number): Promise<void> {
    let seq = 0;
    const run = (method: string, p: string, body: unknown = {}) => exec(n, seq++, method, p, body);
    const tag = `${fp.namespace.replace(/\W/g, '')}l${n}`.slice(-30);
    const user = await run('POST', '/users', { username: `u${tag}`, email: `${tag}@example.com` });
    const userId = user.id as string;
    const device = await run('POST', '/devices', { userId, name: 'phone', spec, tier: 'standard', region: 'cn-east' });
    const deviceId = device.id as string;
    if (n === 0) probeTarget = { userId, deviceId };
    let order: string | undefined;
    let notification: string | undefined;
    let suspended = false;
    for (let i = 0; !stopping; i++) {
      let last: Record<string, unknown> | undefined;
      switch (i % 9) {
        case 0:
          last = await run('POST', `/devices/${deviceId}/start`);
          break;
        case 1:
          last = await run('PATCH', `/devices/${deviceId}`, { name: `phone ${i}` });
          break;
        case 2:
          last = await run('POST', `/devices/${deviceId}/stop`, { reason: 'load' });
          break;
        case 3:
          order = (
            await run('POST', '/orders', {
              userId,
              planId: 'std-month',
              planName: 'Standard',
              amount: { amount: 4990, currency: 'CNY' },
              spec,
              tier: 'standard',
              region: 'cn-east',
            })
          ).id as string;
          break;
        case 4:
          await run('POST', `/orders/${order}/pay`, { amount: { amount: 4990, currency: 'CNY' }, paymentMethod: 'alipay' });
          break;
        case 5:
          notification = (await run('POST', '/notifications', { userId, title: 'notice', content: `n${i}`, cause: 'operator' }))
            .id as string;
          break;
        case 6:
          await run('POST', `/notifications/${notification}/read`);
          break;
        case 7:
          suspended = !suspended;
          await run('POST', `/users/${userId}/status`, { status: suspended ? 'suspended' : 'active', reason: 'load' });
          break;
        default:
          await run('POST', `/orders/${order}/refund`, { amount: { amount: 990, currency: 'CNY' }, reason: 'load' });
      }
      if (last && i % 3 === 0) await query(userId, deviceId, last.consistencyToken);
      await sleep(paceMs);
    }
  }

  const started = Date.now();
  const running = [...Array.from({ length: lanes }, (_x, n) => lane(n)), prober()];
  const settled = Promise.allSettled(running);

  /** Per lane, the end of its first successful attempt that started at or after `t`. */
  const firstOkAfter = (t: number): Array<number | undefined> =>
    Array.from({ length: lanes }, (_x, n) => {
      const ends = commands
        .filter((c) => c.lane === n)
        .flatMap((c) => c.attempts)
        .filter((a) => a.at >= t && typeof a.outcome === 'number' && a.outcome < 300)
        .map((a) => a.at + a.ms);
      return ends.length > 0 ? Math.min(...ends) : undefined;
    });

  return {
    commands,
    queries,
    started,
    /** Requests waiting for an answer from API instance i right now. */
    inflight: (i: number) => inflight[i]!,
    /** Waits until every lane has completed a command that it sent at or after `t`; returns when (ms after t). */
    async recovered(t: number, timeoutMs = RECOVERY_BOUND_MS): Promise<number> {
      const ends = await waitFor(
        () => {
          const firsts = firstOkAfter(t);
          return firsts.every((x) => x !== undefined) ? (firsts as number[]) : undefined;
        },
        { what: `every lane to succeed again after the fault (${lanes} lanes)`, timeoutMs, intervalMs: 200 },
      );
      return Math.max(...ends) - t;
    },
    /**
     * Stops issuing new commands and lets every lane finish the one it has, retrying until resolved — or, with
     * `giveUp`, only the attempt in flight.
     */
    async stop(opts: { giveUp?: boolean } = {}): Promise<void> {
      stopping = true;
      givingUp = opts.giveUp ?? false;
      const results = await settled;
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed.length > 0) throw new Error(`load lanes failed: ${failed.map((f) => (f.reason as Error).message).join('; ')}`);
    },
  };
}

export type Load = ReturnType<typeof startLoad>;

// ---------------------------------------------------------------------------------------------------------------
// the books

/** The history checker's findings (faults/history.ts), the reservation claims, and the read models against the topics. */
export interface Books extends Anomalies {
  reservationsExpected: number;
  reservationsFound: number;
  readModels: Record<
    string,
    { live: 'equal' | string; fold: 'equal' | string; rebuild: 'equal' | string; appliedOnce: 'equal' | string; deadLetters: number }
  >;
}

const describeDiff = (a: Record<string, unknown[]>, b: Record<string, unknown[]>): 'equal' | string => {
  const diffs: string[] = [];
  for (const t of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = JSON.stringify(a[t] ?? []);
    const y = JSON.stringify(b[t] ?? []);
    if (x !== y) diffs.push(`${t}: ${(a[t] ?? []).length} vs ${(b[t] ?? []).length} rows differ`);
  }
  return diffs.length === 0 ? 'equal' : diffs.join('; ');
};

/** Rebuilds every read model from offset 0 of the topics into a fresh schema (fresh consumer groups), and reads it. */
async function rebuild(fp: FaultPlatform): Promise<Record<string, Record<string, unknown[]>>> {
  const schema = `${fp.schema}_rebuild`;
  const db = createDb(fp.cfg.database.url, { schema, poolMax: 4 });
  await migrate(db, schema);
  const workers = Object.values(PROJECTIONS).map((projection) =>
    createProjectionWorker({
      kafka: fp.it.kafka,
      db,
      eventLog: fp.it.eventLog,
      projection,
      topics: projection.topics(fp.topics),
      deadLetterTopic: fp.topics.deadLetters,
      groupId: unique(`${fp.namespace}.rebuild.${projection.name}`),
      logger: fp.it.logger,
    }),
  );
  try {
    await Promise.all(workers.map((w) => w.start()));
    for (const p of Object.values(PROJECTIONS)) await fp.caughtUp(p, db);
    const out: Record<string, Record<string, unknown[]>> = {};
    for (const p of Object.values(PROJECTIONS)) out[p.name] = await readModel(db, p);
    return out;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await db.raw('drop schema if exists ?? cascade', [schema]);
    await db.destroy();
  }
}

/**
 * Checks the topics against the client's record of the load (the history checker, faults/history.ts: every
 * acknowledged command's events committed exactly once and whole, none only in an aborted transaction, nothing
 * committed that no acknowledged command wrote, per-aggregate versions 1..N).
 */
export async function checkTopics(fp: FaultPlatform, load: Load): Promise<{ anomalies: Anomalies; byTopic: Map<string, DecodedRecord[]> }> {
  const t = fp.topics;
  const topics = [t.user.events, t.device.events, t.order.events, t.notification.events, t.appInstall.events, t.reservation.events];
  const byTopic = new Map<string, DecodedRecord[]>();
  const uncommitted = new Map<string, DecodedRecord[]>();
  for (const topic of topics) {
    byTopic.set(topic, await fp.records(topic));
    uncommitted.set(topic, await fp.it.readAll(topic, { readUncommitted: true }));
  }
  const anomalies = checkHistory(load.commands, {
    committed: byTopic,
    uncommitted,
    // The reservation claims the user route makes are not in its answer; a seeded log is not the load's.
    notTheClients: (r) => r.topic === t.reservation.events || fp.isPrior(r),
  });
  for (const line of anomalyLines(anomalies).slice(0, 50)) console.log(`history: ${line}`);
  return { anomalies, byTopic };
}

/**
 * Checks the books after a scenario: the history (checkTopics), the reservation claims, and every read model
 * against the pure fold of the topics and a fresh rebuild from them, with each event applied once.
 */
export async function checkBooks(fp: FaultPlatform, load: Load): Promise<Books> {
  const t = fp.topics;
  const { anomalies, byTopic } = await checkTopics(fp, load);
  const users = load.commands.filter((c) => c.method === 'POST' && c.path === '/users' && c.final && c.final.status < 300).length;

  const readModels: Books['readModels'] = {};
  const rebuilt = await rebuild(fp);
  for (const p of Object.values(PROJECTIONS)) {
    const store = memoryStore(p);
    const mine = p.topics(t);
    for (const topic of mine) for (const r of byTopic.get(topic) ?? (await fp.records(topic))) store.apply(r.event);
    const fold = Object.fromEntries(Object.keys(p.tables).map((table) => [table, store.rows(table)]));
    const live = await readModel(fp.db, p);
    const sums = (await fp.db(CHECKPOINTS).where({ projection: p.name }).sum({ n: 'applied_events', d: 'dead_letters' }).first()) as
      { n: number | null; d: number | null } | undefined;
    const applied = Number(sums?.n ?? 0);
    const expected = mine.reduce((n, topic) => n + (byTopic.get(topic)?.length ?? 0), 0);
    readModels[p.name] = {
      live: `${Object.values(live).reduce((n, rows) => n + rows.length, 0)} rows`,
      fold: describeDiff(live, fold),
      rebuild: describeDiff(live, rebuilt[p.name]!),
      appliedOnce: applied === expected ? 'equal' : `${applied} applied for ${expected} events`,
      deadLetters: Number(sums?.d ?? 0),
    };
  }
  return {
    ...anomalies,
    reservationsExpected: 2 * users,
    reservationsFound: byTopic.get(t.reservation.events)!.length,
    readModels,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// the report

export interface Report {
  scenario: string;
  fault: string;
  full: boolean;
  lanes: number;
  commands: {
    sent: number;
    acknowledged: number;
    failedAttempts: number;
    retried: number;
    rejected4xx: number;
    replayedAfterFailure: number;
    executedOnRetry: number;
  };
  attempts: Record<string, number>;
  queries: Record<string, number>;
  answers503WithoutRetryAfter: number;
  recovery: Record<string, string>;
  unexpectedExits: string[];
  books: Books;
  durationS: number;
}

const outcomeKey = (o: Outcome) => (typeof o === 'number' ? (o < 300 ? '2xx' : String(o)) : o);

export function makeReport(
  fp: FaultPlatform,
  load: Load,
  books: Books,
  fault: string,
  recovery: Record<string, number | string>,
  started: number,
): Report {
  const cmds = load.commands;
  const attempts = cmds.flatMap((c) => c.attempts);
  const count = (xs: Outcome[]) =>
    xs.reduce<Record<string, number>>((m, o) => ({ ...m, [outcomeKey(o)]: (m[outcomeKey(o)] ?? 0) + 1 }), {});
  const failedFirst = cmds.filter((c) => c.attempts.length > 1);
  return {
    scenario: fp.scenario,
    fault,
    full: FULL,
    lanes: new Set(cmds.map((c) => c.lane)).size,
    commands: {
      sent: cmds.length,
      acknowledged: cmds.filter((c) => c.final && c.final.status < 300).length,
      failedAttempts: attempts.filter((a) => !(typeof a.outcome === 'number' && a.outcome < 300)).length,
      retried: failedFirst.length,
      rejected4xx: cmds.filter((c) => c.final && c.final.status >= 400).length,
      replayedAfterFailure: failedFirst.filter((c) => c.final?.replayed).length,
      executedOnRetry: failedFirst.filter((c) => c.final && !c.final.replayed).length,
    },
    attempts: count(attempts.map((a) => a.outcome)),
    queries: count(load.queries.map((q) => q.outcome)),
    answers503WithoutRetryAfter:
      attempts.filter((a) => a.outcome === 503 && !a.retryAfter).length +
      load.queries.filter((q) => q.outcome === 503 && !q.retryAfter).length,
    recovery: Object.fromEntries(Object.entries(recovery).map(([k, v]) => [k, typeof v === 'number' ? `${(v / 1000).toFixed(1)}s` : v])),
    unexpectedExits: [...fp.unexpectedExits],
    books,
    durationS: Math.round((Date.now() - started) / 1000),
  };
}

/** Prints the report and writes it to `<STACK_DIR>/faults/<scenario>.json`. */
export function publish(fp: FaultPlatform, report: Report): string {
  const dir = path.join(fp.stack.cfg.dir, 'faults');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${report.scenario}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`fault report (${file}):\n${JSON.stringify(report, null, 2)}`);
  return file;
}

/** The assertions every scenario makes on its report. */
export function expectSound(report: Report, opts: { connectionErrorsExpected?: boolean } = {}): void {
  const { books } = report;
  expect(report.unexpectedExits).toEqual([]);
  expect(report.commands.acknowledged).toBe(report.commands.sent);
  expect(report.commands.rejected4xx).toBe(0);
  expect(report.attempts.hang ?? 0).toBe(0);
  expect(report.queries.hang ?? 0).toBe(0);
  const serverErrors = Object.entries({ ...report.attempts }).filter(([k]) => /^5\d\d$/.test(k) && k !== '503');
  const queryErrors = Object.entries({ ...report.queries }).filter(([k]) => /^5\d\d$/.test(k) && k !== '503');
  expect([...serverErrors, ...queryErrors]).toEqual([]);
  expect(report.answers503WithoutRetryAfter).toBe(0);
  if (!opts.connectionErrorsExpected) {
    expect(report.attempts['conn-error'] ?? 0).toBe(0);
    expect(report.queries['conn-error'] ?? 0).toBe(0);
  }
  expect(anomalyLines(books)).toEqual([]);
  expect(books.reservationsFound).toBe(books.reservationsExpected);
  for (const [name, m] of Object.entries(books.readModels)) {
    expect({ name, fold: m.fold, rebuild: m.rebuild, appliedOnce: m.appliedOnce, deadLetters: m.deadLetters }).toEqual({
      name,
      fold: 'equal',
      rebuild: 'equal',
      appliedOnce: 'equal',
      deadLetters: 0,
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// a scenario

/**
 * Runs one scenario: the platform's processes up, the load running for a warm-up, the fault injected by `inject`
 * (which returns the recovery times it measured), the load kept up a while after, then stopped; the read models
 * must catch up; the books are checked and the report printed, written and asserted.
 *
 * `defect` runs a scenario on a platform set up wrong on purpose (`layout`, e.g. one replica per topic): the
 * history checker must find what that loses, so only the topics are checked (the read models of a log that lost
 * records are not expected to agree), nothing is asserted here, and the anomalies are returned to the test.
 */
export async function runScenario(
  name: string,
  fault: string,
  inject: (fp: FaultPlatform, load: Load) => Promise<Record<string, number | string>>,
  opts: {
    connectionErrorsExpected?: boolean;
    expect503?: boolean;
    longLog?: number;
    layout?: Partial<TopicLayout>;
    defect?: string;
  } = {},
): Promise<Report> {
  const started = Date.now();
  const fp = await faultPlatform(name, { layout: opts.layout });
  try {
    if (opts.longLog) console.log(`${name}: a log of ${await fp.seedLog(opts.longLog)} events written before the platform starts`);
    await Promise.all([fp.startApi(0), fp.startApi(1)]);
    fp.startWorker();
    const load = startLoad(fp);
    await sleep(SCALE.warmupMs);
    // The fault hits a running platform: every lane has had answers, and the projection worker has applied them.
    await waitFor(() => (load.commands.filter((c) => c.final).length >= 3 * SCALE.lanes ? true : undefined), {
      what: 'the load to get going',
      timeoutMs: RECOVERY_BOUND_MS,
      intervalMs: 100,
    });
    await waitFor(async () => ((await appliedEvents(fp.db)) > 0 ? true : undefined), {
      what: 'the projection worker to apply events',
      timeoutMs: RECOVERY_BOUND_MS,
      intervalMs: 100,
    });
    for (const p of Object.values(PROJECTIONS)) await fp.caughtUp(p);
    const recovery = await inject(fp, load);
    await sleep(SCALE.afterMs);
    if (opts.defect) {
      await load.stop({ giveUp: true }).catch((err: Error) => console.log(`${name} (defect: ${opts.defect}): ${err.message}`));
      const { anomalies } = await checkTopics(fp, load);
      const books: Books = { ...anomalies, reservationsExpected: 0, reservationsFound: 0, readModels: {} };
      const report = makeReport(fp, load, books, `${fault} — with a deliberate defect: ${opts.defect}`, recovery, started);
      publish(fp, report);
      return report;
    }
    await load.stop();
    const t0 = Date.now();
    for (const p of Object.values(PROJECTIONS)) await fp.caughtUp(p);
    recovery['read models caught up after the load stopped'] = Date.now() - t0;
    const books = await checkBooks(fp, load);
    const report = makeReport(fp, load, books, fault, recovery, started);
    publish(fp, report);
    expectSound(report, opts);
    if (opts.expect503) expect(report.attempts['503'] ?? 0).toBeGreaterThan(0);
    return report;
  } finally {
    // A scenario that failed halfway may have left a part down: the next one starts on a whole stack.
    await stackUp(fp.stack).catch((err: unknown) => console.log(`could not bring the stack back up: ${String(err)}`));
    await fp.stop();
  }
}
