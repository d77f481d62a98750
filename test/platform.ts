import { bootstrapNamespace, dropNamespace } from '../lib/bootstrap';
import { loadEventSchemas } from '../lib/schemas';
import { topicsFor } from '../lib/topics';
import { startCommandSide, type CommandSide } from '../services/platform';
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

/**
 * The command side on the real stack, in a namespace of its own (topics and subjects with a random suffix),
 * with `instances` processes' worth of instances side by side.
 */
export async function startTestPlatform(instances = 1) {
  const it_ = integration();
  const namespace = unique('test-e2e');
  const topics = topicsFor(namespace);
  const schemas = loadEventSchemas();
  const deps = { admin: await it_.admin(), registry: it_.registry, schemas };
  await bootstrapNamespace(deps, topics, { partitions: 6, replicationFactor: 1 });
  const cfg = { ...it_.cfg, topics: { ...it_.cfg.topics, namespace }, commandTimeoutMs: 30_000 };
  const sides: CommandSide[] = [];
  for (let i = 0; i < instances; i++)
    sides.push(await startCommandSide(cfg, { instanceId: `${namespace}-i${i}`, port: 0, logger: it_.logger }));
  return {
    it: it_,
    topics,
    sides,
    http: sides.map((s) => client(s.url)),
    async stop(): Promise<void> {
      await Promise.all(sides.map((s) => s.stop()));
      await dropNamespace(deps, topics).catch(() => undefined);
      await it_.close();
    },
  };
}
