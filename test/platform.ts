import { signToken, type Actor } from '../lib/auth';
import { bootstrapNamespace, dropNamespace } from '../lib/bootstrap';
import { loadEventSchemas } from '../lib/schemas';
import { topicsFor } from '../lib/topics';
import type { Config } from '../lib/config';
import { startPolicies } from '../policies/platform';
import { startProjections } from '../projections/platform';
import { readSideApi } from '../projections/routes';
import { startCommandSide, type CommandSide } from '../services/platform';
import { testDatabase } from './projection-harness';
import { integration, unique } from './support';

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
  const namespace = unique('test-e2e');
  const topics = topicsFor(namespace);
  const schemas = loadEventSchemas();
  const deps = { admin: await it_.admin(), registry: it_.registry, schemas };
  await bootstrapNamespace(deps, topics, { partitions: 6, replicationFactor: 1 });
  const database = opts.readSide ? testDatabase('e2e') : undefined;
  const cfg: Config = {
    ...it_.cfg,
    topics: { ...it_.cfg.topics, namespace },
    commandTimeoutMs: 30_000,
    database: { ...it_.cfg.database, schema: database?.schema },
    sagas: { ...it_.cfg.sagas, ...opts.sagas },
    auth: opts.tenants ? { ...it_.cfg.auth, tenants: opts.tenants } : it_.cfg.auth,
  };
  const read = opts.readSide ? await startProjections(cfg, { logger: it_.logger }) : undefined;
  const api = read ? readSideApi(read, cfg) : { routers: [], operations: [] };
  const sides: CommandSide[] = [];
  for (let i = 0; i < instances; i++) {
    sides.push(await startCommandSide(cfg, { instanceId: `${namespace}-i${i}`, port: 0, logger: it_.logger, ...api }));
  }
  let policies = opts.readSide ? await startPolicies(cfg, { bus: sides[0]!.bus, logger: it_.logger }) : undefined;
  return {
    it: it_,
    cfg,
    topics,
    sides,
    db: database?.db,
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
    /** The Authorization header of a token for this actor, signed with the platform's secret. */
    bearer: (userId: string, tenantId: string, role: Actor['role'] = 'user') => ({
      Authorization: `Bearer ${signToken(cfg.auth, { userId, tenantId, role })}`,
    }),
    async stop(): Promise<void> {
      await policies?.stop();
      await read?.stop();
      await Promise.all(sides.map((s) => s.stop()));
      await database?.teardown();
      await dropNamespace(deps, topics).catch(() => undefined);
      await it_.close();
    },
  };
}
