import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import autocannon from 'autocannon';
import type { Latency, Load } from './results';
import { percentiles } from './stats';
import { sleep } from '../lib/wait';

/**
 * The load generator, in a process of its own so it does not share the event loop of the servers it measures.
 * argv: a JSON file with a spec (or an array of specs, run one after the other). Sends the result (or the array
 * of results) to the parent (IPC) and exits.
 *
 * - `http`: autocannon against one of the given paths (picked at random per request) at saturation or, with
 *   `perSecond`, requests at that constant arrival rate (see `paced`); `body` sends a fresh body each time: a
 *   device name (`rename`, a PATCH) or a whole sign-up (`signup`, a POST of a new username, email and phone).
 * - `visibility`: commands at a steady rate; each accepted one is read back through the query API with its
 *   consistency token, timing accepted → visible.
 */
export type LoadSpec =
  | {
      kind: 'http';
      url: string;
      method: 'GET' | 'PATCH' | 'POST';
      paths: string[];
      body?: FreshBody;
      headers: Record<string, string>;
      connections: number;
      seconds: number;
      perSecond?: number;
    }
  | {
      kind: 'visibility';
      url: string;
      deviceIds: string[];
      commandHeaders: Record<string, string>;
      queryHeaders: Record<string, string>;
      perSecond: number;
      seconds: number;
    };

export interface VisibilityResult {
  sent: number;
  visible: number;
  failed: number;
  acceptedToVisible: Latency;
  sendToVisible: Latency;
}

const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

/** The bodies a load can send, each new per request: no two requests of a run (or of two runs) send the same. */
export type FreshBody = 'rename' | 'signup';
const run = `${process.pid}${Date.now().toString(36)}`;
function freshBody(kind: FreshBody | undefined, n: number): string | undefined {
  if (kind === 'rename') return JSON.stringify({ name: `bench-${run}-${n}` });
  if (kind === 'signup')
    return JSON.stringify({ username: `b${run}-${n}`, email: `b${run}-${n}@bench.example`, phone: `+86 ${String(n).padStart(8, '0')}` });
  return undefined;
}

/**
 * One HTTP request on a keep-alive connection of node:http. Not `fetch`: its per-request cost in this process
 * (~1 ms of CPU) delayed the requests due after it, and those delays were counted as the server's latency — at
 * 400 req/s an idle server measured p99 48–64 ms through fetch whose own event loop never stalled over 17 ms.
 */
const agent = new Agent({ keepAlive: true, maxSockets: 512 });
function request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string }) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/**
 * A constant arrival rate: request i is due at start + i / rate whatever the earlier ones are doing (open loop),
 * and its latency counts from when it was due, so a server that falls behind is not hidden (no coordinated
 * omission). autocannon's own rate limit sends each connection's quota for the second back to back and then
 * waits, which is a burst at saturation every second.
 */
async function paced(spec: Extract<LoadSpec, { kind: 'http' }>, perSecond: number): Promise<Load> {
  const ms: number[] = [];
  let errors = 0;
  let non2xx = 0;
  let inflight = 0;
  let maxInflight = 0;
  let n = 0;
  const one = async (due: number) => {
    inflight++;
    maxInflight = Math.max(maxInflight, inflight);
    try {
      const res = await request(`${spec.url}${pick(spec.paths)}`, {
        method: spec.method,
        headers: spec.headers,
        body: freshBody(spec.body, n++),
      });
      if (res.status < 200 || res.status > 299) non2xx++;
      ms.push(performance.now() - due);
    } catch {
      errors++;
    } finally {
      inflight--;
    }
  };
  const all: Array<Promise<void>> = [];
  const start = performance.now();
  const total = Math.floor(spec.seconds * perSecond);
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    all.push(one(due));
  }
  await Promise.all(all);
  const p = percentiles(ms);
  return {
    connections: maxInflight,
    seconds: spec.seconds,
    requests: ms.length,
    perSecond: ms.length / spec.seconds,
    p50: p.p50,
    p99: p.p99,
    errors,
    non2xx,
  };
}

async function http(spec: Extract<LoadSpec, { kind: 'http' }>): Promise<Load> {
  if (spec.perSecond) return paced(spec, spec.perSecond);
  let n = 0;
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.seconds,
    timeout: 30,
    headers: spec.headers,
    requests: [
      {
        method: spec.method,
        setupRequest: (req) => ({
          ...req,
          path: pick(spec.paths),
          body: freshBody(spec.body, n++),
        }),
      },
    ],
  });
  return {
    connections: spec.connections,
    seconds: spec.seconds,
    requests: result.requests.total,
    perSecond: result.requests.total / spec.seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

async function visibility(spec: Extract<LoadSpec, { kind: 'visibility' }>): Promise<VisibilityResult> {
  const accepted: number[] = [];
  const sent: number[] = [];
  let fired = 0;
  let failed = 0;
  const one = async (i: number) => {
    const id = pick(spec.deviceIds);
    const name = `vis-${process.pid}-${i}`;
    const t0 = performance.now();
    try {
      const res = await request(`${spec.url}/devices/${id}`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json', ...spec.commandHeaders },
        body: JSON.stringify({ name }),
      });
      const body = JSON.parse(res.body) as { consistencyToken?: string };
      if (res.status !== 200 || !body.consistencyToken) throw new Error(`command ${res.status}`);
      const t1 = performance.now();
      for (let tries = 1; ; tries++) {
        const q = await request(`${spec.url}/devices/${id}`, {
          headers: { ...spec.queryHeaders, 'X-Consistency-Token': body.consistencyToken },
        });
        if (q.status === 503 && tries < 5) continue;
        if (q.status !== 200) throw new Error(`query ${q.status}`);
        const row = JSON.parse(q.body) as { name?: string };
        // Another command may have renamed it since; the token guarantees ours was applied.
        if (row.name === undefined) throw new Error('no name in the read model');
        break;
      }
      const t2 = performance.now();
      accepted.push(t2 - t1);
      sent.push(t2 - t0);
    } catch {
      failed++;
    }
  };
  const inflight: Array<Promise<void>> = [];
  const start = performance.now();
  const end = start + spec.seconds * 1000;
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - start) / 1000) * spec.perSecond);
    while (fired < due) inflight.push(one(fired++));
    await sleep(2);
  }
  await Promise.all(inflight);
  return { sent: fired, visible: accepted.length, failed, acceptedToVisible: percentiles(accepted), sendToVisible: percentiles(sent) };
}

async function main(): Promise<void> {
  const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadSpec | LoadSpec[];
  const one = (s: LoadSpec) => (s.kind === 'http' ? http(s) : visibility(s));
  let result: unknown;
  if (Array.isArray(spec)) {
    // Several steps in one process (one start-up): run in order, results in the same order.
    const all: unknown[] = [];
    for (const s of spec) all.push(await one(s));
    result = all;
  } else {
    result = await one(spec);
  }
  process.send?.(result, () => process.exit(0));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
