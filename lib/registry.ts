import http from 'node:http';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type avro from 'avsc';
import type { Config } from './config';
import { InfraError } from './errors';
import { passwordFile } from './secret-file';

/**
 * Who talks to the schema registry (HTTP Basic, Apicurio's roles): `reader` (sr-readonly: every running
 * component and tool — lookups, ids, schemas), `writer` (sr-developer: bootstrap and the tests — registers schemas,
 * sets a subject's compatibility, deletes test subjects), `admin` (sr-admin: registry-wide configuration; no
 * component uses it).
 */
export const REGISTRY_PRINCIPALS = ['admin', 'writer', 'reader'] as const;
export type RegistryPrincipal = (typeof REGISTRY_PRINCIPALS)[number];
export const registryUsernameOf = (p: RegistryPrincipal) => `cloudphone-${p}`;

export type RegistryCredentials = Record<RegistryPrincipal, string>;

/** The registry principals' passwords, from REGISTRY_CREDENTIALS_FILE (made once, mode 0600, by the local stack). */
export function registryCredentials(file: string, opts: { make?: boolean } = {}): Partial<RegistryCredentials> {
  const all = passwordFile(file, REGISTRY_PRINCIPALS, opts);
  if (!all) throw new Error(`no registry credentials at ${file} (REGISTRY_CREDENTIALS_FILE): run npm run stack -- up`);
  return all;
}

/**
 * The Basic credentials of a principal (undefined when REGISTRY_AUTH=none). The file needs only the principals
 * of the deployment that reads it, as with Kafka's.
 */
export function registryAuthOf(cfg: Config, principal: RegistryPrincipal): { username: string; password: string } | undefined {
  if (cfg.registry.auth === 'none') return undefined;
  const file = cfg.registry.credentialsFile;
  const password = registryCredentials(file)[principal];
  if (!password) throw new Error(`no registry password for ${principal} in ${file} (REGISTRY_CREDENTIALS_FILE)`);
  return { username: registryUsernameOf(principal), password };
}

export type Compatibility = 'NONE' | 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FORWARD_TRANSITIVE' | 'FULL' | 'FULL_TRANSITIVE';

/** The registry answered with an error status: retriable when it is a 5xx (a restart, an overload). */
export class RegistryError extends InfraError {
  constructor(
    message: string,
    readonly status: number,
    retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, retriable, options);
  }
}

/**
 * The npm client's failures as RegistryErrors. It reports every failure as a `ResponseError` with a status: the
 * registry's own (a 5xx is retriable, a 4xx an answer), or 400 when no answer came at all — its HTTP layer
 * (mappersmith) keeps only the socket error's text, so that case alone is recognised by the text.
 */
const NO_ANSWER = /\b(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|socket hang up)\b/;
function fromClient(err: unknown): unknown {
  if (!(err instanceof Error) || err.name !== 'ResponseError') return err;
  const status = Number((err as { status?: unknown }).status ?? 0);
  const retriable = status >= 500 || status === 408 || (status === 400 && NO_ANSWER.test(err.message));
  return new RegistryError(err.message, status, retriable, { cause: err });
}
const translated = <T>(call: Promise<T>): Promise<T> =>
  call.catch((err: unknown) => {
    throw fromClient(err);
  });

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

/**
 * The schema registry, spoken to through the Confluent API (Apicurio serves it at /apis/ccompat/v7):
 * the npm client for ids, encode and decode; plain HTTP for subjects, configs and compatibility checks.
 */
export function createRegistry(cfg: Config, principal: RegistryPrincipal) {
  const url = cfg.registry.url;
  const auth = registryAuthOf(cfg, principal);
  // No pooled keep-alive sockets: after a registry restart a pooled socket would fail the next call.
  // Registry calls are rare (ids and schemas are cached), so a connection per call costs nothing.
  const client = new SchemaRegistry({ host: url, auth, agent: new http.Agent({ keepAlive: false }) });
  const authorization = auth ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` : undefined;

  async function call<T>(method: string, pathname: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${url}${pathname}`, {
      method,
      headers: { 'Content-Type': CONTENT_TYPE, Accept: CONTENT_TYPE, ...(authorization ? { Authorization: authorization } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  async function ok<T>(method: string, pathname: string, body?: unknown): Promise<T> {
    const res = await call<T & { message?: string }>(method, pathname, body);
    if (res.status >= 400) {
      throw new RegistryError(`${method} ${pathname}: ${res.status} ${res.body?.message ?? ''}`.trim(), res.status, res.status >= 500);
    }
    return res.body;
  }

  const avroBody = (schema: avro.Schema) => ({ schema: JSON.stringify(schema), schemaType: 'AVRO' });
  const subjectPath = (subject: string) => `/subjects/${encodeURIComponent(subject)}`;

  return {
    url,
    /** The Authorization header of this principal, for a call the methods below do not make (inspect's subject lookup). */
    authorization,
    subjects: () => ok<string[]>('GET', '/subjects'),
    versions: async (subject: string): Promise<number[]> => {
      const res = await call<number[]>('GET', `${subjectPath(subject)}/versions`);
      return res.status === 404 ? [] : res.body;
    },
    /** The subject's own compatibility level; undefined when it has none (the registry's default applies). */
    compatibility: async (subject: string): Promise<Compatibility | undefined> => {
      const res = await call<{ compatibilityLevel?: Compatibility }>('GET', `/config/${encodeURIComponent(subject)}`);
      return res.status === 404 ? undefined : res.body.compatibilityLevel;
    },
    setCompatibility: (subject: string, level: Compatibility) =>
      ok<unknown>('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: level }),
    /** Whether `schema` may be registered as the subject's next version under its compatibility level. */
    isCompatible: async (subject: string, schema: avro.Schema): Promise<{ compatible: boolean; messages: string[] }> => {
      const res = await call<{ is_compatible?: boolean; messages?: string[]; message?: string }>(
        'POST',
        `/compatibility${subjectPath(subject)}/versions/latest?verbose=true`,
        avroBody(schema),
      );
      if (res.status === 404) return { compatible: true, messages: ['subject not registered yet'] };
      if (res.status >= 400)
        throw new RegistryError(res.body.message ?? `compatibility check: ${res.status}`, res.status, res.status >= 500);
      return { compatible: res.body.is_compatible === true, messages: res.body.messages ?? [] };
    },
    /**
     * Registers the schema under the subject at the given compatibility level (set explicitly on the subject,
     * since a subject without its own level reports the registry-wide default). Idempotent: an identical schema
     * returns its existing id.
     */
    register: async (subject: string, schema: avro.Schema, level: Compatibility = 'BACKWARD'): Promise<number> => {
      await ok<unknown>('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: level });
      const { id } = await ok<{ id: number }>('POST', `${subjectPath(subject)}/versions`, avroBody(schema));
      return id;
    },
    /** The id of a schema already registered under the subject. */
    idOf: (subject: string, schema: avro.Schema) =>
      translated(client.getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: JSON.stringify(schema) })),
    /** The writer's schema of an id (what the decoder resolves a record's schema id to). */
    schemaOf: (id: number) => translated(client.getSchema(id)),
    deleteSubject: async (subject: string): Promise<void> => {
      await call('DELETE', subjectPath(subject));
      await call('DELETE', `${subjectPath(subject)}?permanent=true`);
    },
  };
}

export type Registry = ReturnType<typeof createRegistry>;
