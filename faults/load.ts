import { signToken } from '../lib/auth';
import { sleep, waitFor } from '../lib/wait';
import { COMMAND_TIMEOUT_MS, RECOVERY_BOUND_MS, SCALE, type FaultPlatform } from './platform';

/**
 * The fault suite's load (faults/harness.ts runs the scenarios): a steady, bounded stream of commands through the
 * platform's HTTP APIs, and the client's own record of every attempt and answer, which the books check after.
 */

/** A request that has no answer after this is a hang (the user route sends up to three commands in a row). */
const HANG_MS = 3 * COMMAND_TIMEOUT_MS + 8_000;
/** A command that has no definitive answer (2xx or 4xx) after retrying this long fails the books. */
const RESOLVE_BOUND_MS = 240_000;
const TENANT = 'faults';

export type Outcome = number | 'conn-error' | 'hang';

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

/** The load's state, shared by its lanes, its prober and its stop. */
interface LoadState {
  readonly fp: FaultPlatform;
  readonly lanes: number;
  readonly paceMs: number;
  readonly commands: CommandRecord[];
  readonly queries: QueryRecord[];
  /** Per API instance, the requests waiting for an answer. */
  readonly inflight: number[];
  /** The tenant operator's token the commands are sent with. */
  readonly admin: string;
  stopping: boolean;
  /** Set by `stop({ giveUp: true })`: unanswered commands stop being retried (a platform that cannot recover). */
  givingUp: boolean;
  /** The device the prober reads back (lane 0's). */
  probeTarget?: { userId: string; deviceId: string };
}

const timedOut = (e: Error) => e.name === 'TimeoutError' || e.name === 'AbortError';

// ---------------------------------------------------------------------------------------------------------------
// one command

/** One attempt of a command on API instance `instance`, with its Idempotency-Key; never throws. */
async function attempt(
  load: LoadState,
  instance: number,
  method: string,
  p: string,
  body: unknown,
  key: string,
): Promise<{ a: Attempt; res?: { status: number; body: Record<string, unknown>; headers: Headers } }> {
  const at = Date.now();
  const url = load.fp.apiUrl(instance);
  if (!url) return { a: { at, ms: 0, instance, outcome: 'conn-error', retryAfter: null, detail: 'instance down' } };
  load.inflight[instance]!++;
  try {
    const res = await fetch(`${url}${p}`, {
      method,
      headers: { 'Content-Type': 'application/json', 'X-Tenant-Id': TENANT, 'Idempotency-Key': key, Authorization: `Bearer ${load.admin}` },
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
    return {
      a: {
        at,
        ms: Date.now() - at,
        instance,
        outcome: timedOut(e) ? 'hang' : 'conn-error',
        retryAfter: null,
        detail: e.cause?.message ?? e.message,
      },
    };
  } finally {
    load.inflight[instance]!--;
  }
}

/**
 * Issues one command and records it: retried with its key, on the other instance when it is up, until a
 * definitive answer; returns the final response body (a 4xx, an unresolved command or giving up throws).
 */
async function issue(
  load: LoadState,
  lane: number,
  seq: number,
  method: string,
  p: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  const rec: CommandRecord = { lane, seq, method, path: p, key: `${load.fp.namespace}-l${lane}-c${seq}`, attempts: [] };
  load.commands.push(rec);
  const started = Date.now();
  let instance = lane % 2;
  for (;;) {
    const { a, res } = await attempt(load, instance, method, p, body, rec.key);
    rec.attempts.push(a);
    if (res && res.status !== 503 && res.status < 500) {
      rec.final = { status: res.status, body: res.body, replayed: res.headers.get('idempotent-replayed') === 'true' };
      if (res.status >= 400) throw new Error(`lane ${lane}: ${method} ${p} answered ${res.status}: ${String(res.body.detail)}`);
      return res.body;
    }
    if (Date.now() - started > RESOLVE_BOUND_MS) throw new Error(`lane ${lane}: ${method} ${p} unresolved after ${RESOLVE_BOUND_MS}ms`);
    if (load.givingUp) throw new Error(`lane ${lane}: ${method} ${p} left unanswered (the load gave up)`);
    // Another instance next time; wait as told (Retry-After), or a moment after a broken connection.
    instance = load.fp.apiUrl(1 - instance) ? 1 - instance : instance;
    const wait = a.retryAfter ? Math.min(5, Number(a.retryAfter) || 1) * 1000 : 500;
    await sleep(wait);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// reads

/** Reads a device back through the query API as its user (with the consistency token, if one is given), and records it. */
async function query(load: LoadState, userId: string, deviceId: string, token: unknown): Promise<void> {
  const url = load.fp.apiUrl(0) ?? load.fp.apiUrl(1);
  if (!url) return;
  const at = Date.now();
  const bearer = signToken(load.fp.cfg.auth, { userId, tenantId: TENANT, role: 'user' });
  try {
    const res = await fetch(`${url}/devices/${deviceId}`, {
      headers: { Authorization: `Bearer ${bearer}`, ...(typeof token === 'string' ? { 'X-Consistency-Token': token } : {}) },
      signal: AbortSignal.timeout(HANG_MS),
    });
    await res.text();
    load.queries.push({ at, outcome: res.status, retryAfter: res.headers.get('retry-after'), token: typeof token === 'string' });
  } catch (err) {
    load.queries.push({ at, outcome: timedOut(err as Error) ? 'hang' : 'conn-error', retryAfter: null, token: typeof token === 'string' });
  }
}

/** Reads one device back every 250 ms, without a consistency token: the query API must answer 200 or 503, whatever is down. */
async function prober(load: LoadState): Promise<void> {
  const deviceId = await waitFor(() => load.probeTarget, { what: 'a device to probe', timeoutMs: 120_000, intervalMs: 100 });
  // Probing starts once the device is in the read model (before that a 404 is the right answer).
  await waitFor(
    async () => {
      const url = load.fp.apiUrl(0) ?? load.fp.apiUrl(1);
      const bearer = signToken(load.fp.cfg.auth, { userId: deviceId.userId, tenantId: TENANT, role: 'user' });
      const res = await fetch(`${url}/devices/${deviceId.deviceId}`, { headers: { Authorization: `Bearer ${bearer}` } });
      return res.status === 200 ? true : undefined;
    },
    { what: 'the probed device to be in the read model', timeoutMs: 120_000, intervalMs: 200 },
  );
  while (!load.stopping) {
    await query(load, deviceId.userId, deviceId.deviceId, undefined);
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// a lane

type Run = (method: string, p: string, body?: unknown) => Promise<Record<string, unknown>>;

/** Where a lane's journey is: its user and device, its last order and notification, whether the user is suspended. */
interface Journey {
  readonly userId: string;
  readonly deviceId: string;
  order?: string;
  notification?: string;
  suspended: boolean;
}

/** Command `i` of a journey (nine, in turn); returns the answer of a device command, which carries a consistency token. */
async function journeyStep(run: Run, j: Journey, i: number): Promise<Record<string, unknown> | undefined> {
  switch (i % 9) {
    case 0:
      return run('POST', `/devices/${j.deviceId}/start`);
    case 1:
      return run('PATCH', `/devices/${j.deviceId}`, { name: `phone ${i}` });
    case 2:
      return run('POST', `/devices/${j.deviceId}/stop`, { reason: 'load' });
    case 3:
      j.order = (
        await run('POST', '/orders', {
          userId: j.userId,
          planId: 'std-month',
          planName: 'Standard',
          amount: { amount: 4990, currency: 'CNY' },
          spec,
          tier: 'standard',
          region: 'cn-east',
        })
      ).id as string;
      return undefined;
    case 4:
      await run('POST', `/orders/${j.order}/pay`, { amount: { amount: 4990, currency: 'CNY' }, paymentMethod: 'alipay' });
      return undefined;
    case 5:
      j.notification = (await run('POST', '/notifications', { userId: j.userId, title: 'notice', content: `n${i}`, cause: 'operator' }))
        .id as string;
      return undefined;
    case 6:
      await run('POST', `/notifications/${j.notification}/read`);
      return undefined;
    case 7:
      j.suspended = !j.suspended;
      await run('POST', `/users/${j.userId}/status`, { status: j.suspended ? 'suspended' : 'active', reason: 'load' });
      return undefined;
    default:
      await run('POST', `/orders/${j.order}/refund`, { amount: { amount: 990, currency: 'CNY' }, reason: 'load' });
      return undefined;
  }
}

/**
 * Lane `n`: a user registered and a device created, then the journey's commands one at a time, paced, until the
 * load stops; every third command, a device command's result is read back with its consistency token.
 */
async function lane(load: LoadState, n: number): Promise<void> {
  let seq = 0;
  const run: Run = (method, p, body = {}) => issue(load, n, seq++, method, p, body);
  const tag = `${load.fp.namespace.replace(/\W/g, '')}l${n}`.slice(-30);
  const user = await run('POST', '/users', { username: `u${tag}`, email: `${tag}@example.com` });
  const userId = user.id as string;
  const device = await run('POST', '/devices', { userId, name: 'phone', spec, tier: 'standard', region: 'cn-east' });
  const deviceId = device.id as string;
  if (n === 0) load.probeTarget = { userId, deviceId };
  const journey: Journey = { userId, deviceId, suspended: false };
  for (let i = 0; !load.stopping; i++) {
    const last = await journeyStep(run, journey, i);
    if (last && i % 3 === 0) await query(load, userId, deviceId, last.consistencyToken);
    await sleep(load.paceMs);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the load

/** Per lane, the end of its first successful attempt that started at or after `t`. */
const firstOkAfter = (load: LoadState, t: number): Array<number | undefined> =>
  Array.from({ length: load.lanes }, (_x, n) => {
    const ends = load.commands
      .filter((c) => c.lane === n)
      .flatMap((c) => c.attempts)
      .filter((a) => a.at >= t && typeof a.outcome === 'number' && a.outcome < 300)
      .map((a) => a.at + a.ms);
    return ends.length > 0 ? Math.min(...ends) : undefined;
  });

/** Waits until every lane has completed a command that it sent at or after `t`; returns when (ms after t). */
async function recovered(load: LoadState, t: number, timeoutMs: number): Promise<number> {
  const ends = await waitFor(
    () => {
      const firsts = firstOkAfter(load, t);
      return firsts.every((x) => x !== undefined) ? (firsts as number[]) : undefined;
    },
    { what: `every lane to succeed again after the fault (${load.lanes} lanes)`, timeoutMs, intervalMs: 200 },
  );
  return Math.max(...ends) - t;
}

/** Stops the load and waits for its lanes and prober to settle; throws naming the lanes that failed. */
async function stop(load: LoadState, settled: Promise<PromiseSettledResult<void>[]>, giveUp: boolean): Promise<void> {
  load.stopping = true;
  load.givingUp = giveUp;
  const results = await settled;
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) throw new Error(`load lanes failed: ${failed.map((f) => (f.reason as Error).message).join('; ')}`);
}

/**
 * A steady load: `lanes` clients, each a user's journey (register, a device started, renamed and stopped, orders
 * opened and paid, notifications sent and read, the user suspended and reactivated), one command at a time with
 * an Idempotency-Key, retried with that key on a 503, a broken connection or a hang until it gets a definitive
 * answer. Every few commands a lane reads its device back through the query API with its consistency token.
 */
export function startLoad(fp: FaultPlatform, opts: { lanes?: number; paceMs?: number } = {}) {
  const load: LoadState = {
    fp,
    lanes: opts.lanes ?? SCALE.lanes,
    paceMs: opts.paceMs ?? SCALE.paceMs,
    commands: [],
    queries: [],
    inflight: [0, 0],
    // The load acts as the tenant's operator (the command API takes the tenant and the actor from the token).
    admin: signToken(fp.cfg.auth, { userId: 'faults-operator', tenantId: TENANT, role: 'tenant_admin' }),
    stopping: false,
    givingUp: false,
  };
  const started = Date.now();
  const running = [...Array.from({ length: load.lanes }, (_x, n) => lane(load, n)), prober(load)];
  const settled = Promise.allSettled(running);

  return {
    commands: load.commands,
    queries: load.queries,
    started,
    /** Requests waiting for an answer from API instance i right now. */
    inflight: (i: number) => load.inflight[i]!,
    /** Waits until every lane has completed a command that it sent at or after `t`; returns when (ms after t). */
    recovered: (t: number, timeoutMs = RECOVERY_BOUND_MS): Promise<number> => recovered(load, t, timeoutMs),
    /**
     * Stops issuing new commands and lets every lane finish the one it has, retrying until resolved — or, with
     * `giveUp`, only the attempt in flight.
     */
    stop: (opts: { giveUp?: boolean } = {}): Promise<void> => stop(load, settled, opts.giveUp ?? false),
  };
}

export type Load = ReturnType<typeof startLoad>;
