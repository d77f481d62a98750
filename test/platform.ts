import { signToken, type Actor } from '../lib/auth';
import type { Config } from '../lib/config';
import { startPolicies } from '../platform/reactions';
import { startProjections } from '../platform/read-side';
import { readSideApi } from '../platform/read-side';
import { startCommandSide, type CommandSide } from '../platform/commands';
import { testNamespace } from './namespace';
import { integration } from './support';

export interface HttpResult {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/** A small JSON client for e2e tests: raw bodies (malformed JSON, huge payloads) pass through untouched. */
export function client(baseUrl: string) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });
    // A stream (GET /stream) is never read to its end: its answer is its status and headers.
    if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      await res.body?.cancel();
      return { status: res.status, body: { raw: '' }, headers: res.headers };
    }
    const text = await res.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      parsed = { raw: text };
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
}

export type Call = ReturnType<typeof client>;

/** A client that sends these headers (e.g. a bearer token) with every request; a call's own headers win. */
export const withHeaders =
  (call: Call, defaults: Record<string, string>): Call =>
  (method, path, body, headers = {}) =>
    call(method, path, body, { ...defaults, ...headers });

/**
 * The command side on the real stack, in a namespace of its own (topics and subjects with a random suffix),
 * with `instances` processes' worth of instances side by side.
 */
export async function startTestPlatform(
  instances = 1,
  opts: { readSide?: boolean; sagas?: Partial<Config['sagas']>; tenants?: Config['auth']['tenants'] } = {},
) {
  const it_ = integration();
  // The read side's projections migrate the schema themselves.
  const ns = testNamespace(it_, 'test-e2e', { partitions: 6, database: opts.readSide ? { prefix: 'e2e', migrate: false } : undefined });
  const { namespace, topics } = ns;
  await ns.setup();
  const cfg: Config = {
    ...ns.cfg,
    commandTimeoutMs: 30_000,
    sagas: { ...it_.cfg.sagas, ...opts.sagas },
    auth: opts.tenants ? { ...it_.cfg.auth, tenants: opts.tenants } : it_.cfg.auth,
  };
  const read = opts.readSide ? await startProjections(cfg, { logger: it_.logger }) : undefined;
  const api = read ? readSideApi(read, cfg) : { routers: [], operations: [] };
  const sides: CommandSide[] = [];
  for (let i = 0; i < instances; i++) {
    sides.push(await startCommandSide(cfg, { instanceId: `${namespace}-i${i}`, port: 0, logger: it_.logger, ...api }));
  }
  /** The Authorization header of a token for this actor, signed with the platform's secret. */
  const bearer = (userId: string, tenantId: string, role: Actor['role'] = 'user') => ({
    Authorization: `Bearer ${signToken(cfg.auth, { userId, tenantId, role })}`,
  });
  let policies = opts.readSide ? await startPolicies(cfg, { bus: sides[0]!.bus, logger: it_.logger }) : undefined;
  return {
    it: it_,
    cfg,
    topics,
    sides,
    db: ns.database?.db,
    get policies() {
      return policies;
    },
    /** Stops the sagas and policies, runs `meanwhile`, and starts them again (as a process restart would). */
    async restartPolicies(meanwhile: () => Promise<void> = async () => undefined): Promise<void> {
      await policies?.stop();
      await meanwhile();
      policies = await startPolicies(cfg, { bus: sides[0]!.bus, logger: it_.logger });
    },
    http: sides.map((s) => client(s.url)),
    bearer,
    /** The Authorization header of the tenant's admin (user `ops`). */
    tenantAdmin: (tenantId: string) => bearer('ops', tenantId, 'tenant_admin'),
    async stop(): Promise<void> {
      await policies?.stop();
      await read?.stop();
      await Promise.all(sides.map((s) => s.stop()));
      await ns.teardown({ ignoreDropErrors: true });
      await it_.close();
    },
  };
}

export type TestPlatform = Awaited<ReturnType<typeof startTestPlatform>>;
