import path from 'node:path';
import { z } from 'zod';
import { embeddedPgUrl, pgCredentials, PROJECTION_ROLES, type ProjectionRole } from './db';

/**
 * The platform's configuration: parsed and validated once at start-up from the
 * environment, then passed down as a plain object. Nothing else reads process.env.
 */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const EMBEDDED_PG_PORT_DEFAULT = 54329;
export const KAFKA_CLUSTER_PORT_DEFAULT = 9192;

/**
 * The ports of the local stack's three-node Kafka cluster (`STACK_BROKERS=3`): node i (1-based) takes clients on
 * base + 2(i-1) and its controller listener on the port after.
 */
export const clusterNodePorts = (base: number, nodes: number) =>
  Array.from({ length: nodes }, (_x, i) => ({ id: i + 1, port: base + 2 * i, controllerPort: base + 2 * i + 1 }));

/**
 * The in-sync replicas an acks=all write needs: with three replicas or more, all but one (a write survives the
 * loss of any one broker and is refused, not half-written, when two are gone); below three, every replica there is
 * (one broker: 1).
 */
export const minInsyncFor = (replicationFactor: number) => (replicationFactor >= 3 ? replicationFactor - 1 : 1);

const schema = z.object({
  KAFKA_BROKERS: z.string().min(1).optional(),
  STACK_BROKERS: z.enum(['1', '3']).default('1'),
  KAFKA_CLUSTER_PORT: int(1, 65_000).default(KAFKA_CLUSTER_PORT_DEFAULT),
  KAFKA_CLIENT_ID: z.string().min(1).default('cloudphone'),
  KAFKA_AUTH: z.enum(['scram', 'none']).default('scram'),
  KAFKA_CREDENTIALS_FILE: z.string().min(1).optional(),
  SCHEMA_REGISTRY_URL: z.string().url().default('http://127.0.0.1:8080/apis/ccompat/v7'),
  REGISTRY_AUTH: z.enum(['basic', 'none']).default('basic'),
  REGISTRY_CREDENTIALS_FILE: z.string().min(1).optional(),
  DATABASE_URL: z.string().url().optional(),
  DATABASE_QUERY_URL: z.string().url().optional(),
  EMBEDDED_PG_PORT: int(1, 65535).default(EMBEDDED_PG_PORT_DEFAULT),
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .optional(),
  TOPIC_NAMESPACE: z
    .string()
    .regex(/^[a-zA-Z0-9._-]+$/)
    .default('cloudphone'),
  TOPIC_PARTITIONS: int(1, 1000).default(6),
  TOPIC_REPLICATION_FACTOR: int(1, 5).optional(),
  TOPIC_MIN_INSYNC_REPLICAS: int(1, 5).optional(),
  HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  HTTP_PORT: int(0, 65535).default(3000),
  COMMAND_TIMEOUT_MS: int(100, 600_000).default(15_000),
  PAYMENT_TIMEOUT_MS: int(1, 7 * 24 * 3600 * 1000).default(15 * 60 * 1000),
  DEVICE_QUOTA_PER_USER: int(0, 10_000).default(5),
  INSTALL_DELAY_MS: int(0, 3600 * 1000).default(3000),
  SAGA_TICK_MS: int(10, 60_000).default(500),
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  AUTH_ISSUER: z.string().min(1).max(256).optional(),
  AUTH_AUDIENCE: z.string().min(1).max(256).default('cloudphone'),
  AUTH_JWKS_URL: z.string().url().optional(),
  AUTH_MAX_TOKEN_LIFETIME_S: int(60, 7 * 24 * 3600).default(24 * 3600),
  OPS_TOKEN_FILE: z.string().min(1).optional(),
  PII_MASTER_KEY_FILE: z.string().min(1).optional(),
  TENANTS: z
    .string()
    .regex(
      /^(\*|[a-z0-9][a-z0-9-]{0,63})(:(open|closed))?(,(\*|[a-z0-9][a-z0-9-]{0,63})(:(open|closed))?)*$/,
      'a list of tenant[:open|closed], comma-separated',
    )
    .optional(),
  STACK_DIR: z.string().optional(),
  CONSISTENCY_TIMEOUT_MS: int(0, 60_000).default(5000),
  TRACING: z.enum(['none', 'file', 'otlp']).default('none'),
  TRACE_SAMPLE_RATIO: z.coerce.number().min(0).max(1).default(1),
  TRACE_DIR: z.string().min(1).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  STREAM_RETENTION_HOURS: int(1, 24 * 30).default(24),
  STREAM_MAX_CLIENTS: int(1, 100_000).default(2_000),
  STREAM_MAX_PER_USER: int(1, 1_000).default(10),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface Config {
  /**
   * `auth`: SASL/SCRAM-SHA-512 with one principal per component (lib/kafka.ts), the credentials in
   * `credentialsFile`; `none` only for a development cluster without authentication, never in production.
   */
  kafka: { brokers: string[]; clientId: string; auth: 'scram' | 'none'; credentialsFile: string };
  /** `basic`: HTTP Basic with one principal per role (lib/registry.ts), passwords in `credentialsFile`. */
  registry: { url: string; auth: 'basic' | 'none'; credentialsFile: string };
  /**
   * Where the platform's own database lives; `embedded` when the stack runs its own PostgreSQL. `url` is the
   * app's role (migrations, projections, sagas, rebuilds), `queryUrl` the query API's (SELECT only; lib/db.ts
   * PG_ROLES). On the embedded server both come from the stack's credentials file (`credentialsFile`).
   */
  database: {
    url: string;
    queryUrl: string;
    /** Each projection's workers' role (embedded server); elsewhere the app role's `url`. */
    projectionUrls: Readonly<Record<ProjectionRole, string>>;
    embedded: boolean;
    schema?: string;
    credentialsFile: string;
  };
  /**
   * `replicationFactor` and `minInsyncReplicas` apply to the topics bootstrap creates: 1 and 1 on the single
   * development broker, 3 and 2 on the three-node cluster (`STACK_BROKERS=3`), or as TOPIC_REPLICATION_FACTOR and
   * TOPIC_MIN_INSYNC_REPLICAS say.
   */
  topics: { namespace: string; partitions: number; replicationFactor: number; minInsyncReplicas: number };
  http: { host: string; port: number };
  /** How long the API waits for a command's reply before answering 503. */
  commandTimeoutMs: number;
  sagas: { paymentTimeoutMs: number; deviceQuota: number; installDelayMs: number; tickMs: number };
  auth: AuthConfig;
  /** How long a query with a consistency token waits for the projections before answering 503. */
  consistencyTimeoutMs: number;
  /**
   * GET /stream: how long changes are kept for clients that resume (a resume from before that is told to read
   * afresh), and how many streams one process serves, all clients and one user's.
   */
  stream: { retentionMs: number; maxClients: number; maxPerUser: number };
  /**
   * The master key that wraps the personal-data keys (lib/pii.ts): a file of 32 bytes in base64. In development the
   * stack makes it into its folder (`make`); production names it (PII_MASTER_KEY_FILE) and never makes one.
   */
  pii: { masterKeyFile: string; make: boolean };
  tracing: TracingConfig;
  logLevel: z.infer<typeof schema>['LOG_LEVEL'];
}

/**
 * Where spans go (lib/tracing.ts): nowhere (`none`, the default), JSON lines under `dir` (`file`: `npm run trace`
 * prints a command's tree from them), or an OTLP/HTTP collector (`otlp`, OTEL_EXPORTER_OTLP_ENDPOINT, e.g.
 * http://collector:4318/v1/traces); `sampleRatio` of new traces are kept (a caller's sampled traceparent is followed).
 */
export interface TracingConfig {
  readonly exporter: 'none' | 'file' | 'otlp';
  readonly sampleRatio: number;
  readonly dir: string;
  readonly otlpEndpoint?: string;
}

/**
 * Who signs the tokens the APIs accept. In production: the identity provider (AUTH_ISSUER, its JWKS at
 * AUTH_JWKS_URL). In development and tests: a key pair the platform makes into the stack folder (`devKeyFile`),
 * with the issuer `cloudphone-dev`; `npm run token` signs with it.
 */
export interface AuthConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly maxLifetimeSeconds: number;
  readonly jwksUrl?: string;
  readonly devKeyFile?: string;
  /** The operator token of the operations endpoints (lib/auth.ts opsToken). */
  readonly opsTokenFile: string;
  /** The registered tenants (TENANTS) and whether each takes open sign-up; `*` registers every tenant id (development). */
  readonly tenants: Readonly<Record<string, 'open' | 'closed'>>;
}

/** The issuer of development tokens (lib/auth.ts DEV_ISSUER); production refuses it. */
const DEV_ISSUER = 'cloudphone-dev';

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  const refuse = (variable: string, why: string) => {
    throw new ConfigError(`invalid configuration:\n  ${variable}: ${why}`);
  };
  if (production && !e.AUTH_ISSUER) refuse('AUTH_ISSUER', 'required with NODE_ENV=production (the identity provider that signs tokens)');
  if (production && !e.AUTH_JWKS_URL) refuse('AUTH_JWKS_URL', 'required with NODE_ENV=production (the JWKS of AUTH_ISSUER)');
  if (production && e.AUTH_ISSUER === DEV_ISSUER)
    refuse('AUTH_ISSUER', `"${DEV_ISSUER}" is the development issuer, never accepted in production`);
  if (production && !e.TENANTS) refuse('TENANTS', 'required with NODE_ENV=production (the registered tenants, e.g. acme:open,corp)');
  if (production && e.TENANTS?.split(',').some((t) => t.startsWith('*')))
    refuse('TENANTS', '"*" (every tenant id) is for development only');
  if (production && !e.OPS_TOKEN_FILE)
    refuse('OPS_TOKEN_FILE', 'required with NODE_ENV=production (the operator token of /metrics and /projections/status)');
  if (production && !e.DATABASE_URL) refuse('DATABASE_URL', 'required with NODE_ENV=production (the app role’s database URL)');
  if (production && !e.DATABASE_QUERY_URL)
    refuse('DATABASE_QUERY_URL', 'required with NODE_ENV=production (a role that may only SELECT the read models)');
  if (production && e.KAFKA_AUTH === 'none') refuse('KAFKA_AUTH', 'must be scram with NODE_ENV=production');
  if (production && e.KAFKA_AUTH === 'scram' && !e.KAFKA_CREDENTIALS_FILE)
    refuse('KAFKA_CREDENTIALS_FILE', 'required with NODE_ENV=production (the SCRAM credentials of this deployment)');
  if (production && e.REGISTRY_AUTH === 'none') refuse('REGISTRY_AUTH', 'must be basic with NODE_ENV=production');
  if (production && e.REGISTRY_AUTH === 'basic' && !e.REGISTRY_CREDENTIALS_FILE)
    refuse('REGISTRY_CREDENTIALS_FILE', 'required with NODE_ENV=production (the registry credentials of this deployment)');
  if (production && !e.PII_MASTER_KEY_FILE)
    refuse('PII_MASTER_KEY_FILE', 'required with NODE_ENV=production (the master key that wraps the personal-data keys)');
  if (e.TRACING === 'otlp' && !e.OTEL_EXPORTER_OTLP_ENDPOINT)
    refuse('OTEL_EXPORTER_OTLP_ENDPOINT', 'required with TRACING=otlp (the collector, e.g. http://collector:4318/v1/traces)');
  const stackBrokers = Number(e.STACK_BROKERS);
  // The local stack's brokers unless KAFKA_BROKERS names others: the single broker, or every node of the cluster.
  const brokers = e.KAFKA_BROKERS
    ? e.KAFKA_BROKERS.split(',').map((b) => b.trim())
    : stackBrokers === 1
      ? ['127.0.0.1:9092']
      : clusterNodePorts(e.KAFKA_CLUSTER_PORT, stackBrokers).map((n) => `127.0.0.1:${n.port}`);
  const replicationFactor = e.TOPIC_REPLICATION_FACTOR ?? Math.min(3, brokers.length);
  if (e.TOPIC_MIN_INSYNC_REPLICAS !== undefined && e.TOPIC_MIN_INSYNC_REPLICAS > replicationFactor)
    refuse(
      'TOPIC_MIN_INSYNC_REPLICAS',
      `${e.TOPIC_MIN_INSYNC_REPLICAS} is more than the replication factor ${replicationFactor}: no write could succeed`,
    );
  const root = path.resolve(__dirname, '..');
  const stackDir = path.resolve(e.STACK_DIR ?? path.join(root, '.stack'));
  const pgCredentialsFile = path.join(stackDir, 'postgres', 'credentials.json');
  const pg = e.DATABASE_URL ? undefined : pgCredentials(pgCredentialsFile);
  const auth: AuthConfig = {
    issuer: e.AUTH_ISSUER ?? DEV_ISSUER,
    audience: e.AUTH_AUDIENCE,
    maxLifetimeSeconds: e.AUTH_MAX_TOKEN_LIFETIME_S,
    opsTokenFile: path.resolve(e.OPS_TOKEN_FILE ?? path.join(stackDir, 'auth', 'ops-token')),
    tenants: Object.fromEntries(
      (e.TENANTS ?? '*:open').split(',').map((t) => {
        const [name, signup] = t.split(':');
        return [name!, signup === 'open' ? 'open' : 'closed'] as const;
      }),
    ),
    ...(e.AUTH_JWKS_URL ? { jwksUrl: e.AUTH_JWKS_URL } : { devKeyFile: path.join(stackDir, 'auth', 'dev-signing-key.jwk.json') }),
  };
  return {
    kafka: {
      brokers,
      clientId: e.KAFKA_CLIENT_ID,
      auth: e.KAFKA_AUTH,
      credentialsFile: path.resolve(e.KAFKA_CREDENTIALS_FILE ?? path.join(stackDir, 'kafka', 'credentials.json')),
    },
    registry: {
      url: e.SCHEMA_REGISTRY_URL.replace(/\/+$/, ''),
      auth: e.REGISTRY_AUTH,
      credentialsFile: path.resolve(e.REGISTRY_CREDENTIALS_FILE ?? path.join(stackDir, 'registry', 'credentials.json')),
    },
    database: {
      url: e.DATABASE_URL ?? embeddedPgUrl(e.EMBEDDED_PG_PORT, 'app', pg),
      queryUrl: e.DATABASE_QUERY_URL ?? e.DATABASE_URL ?? embeddedPgUrl(e.EMBEDDED_PG_PORT, 'query', pg),
      projectionUrls: Object.fromEntries(
        PROJECTION_ROLES.map((r) => [r, e.DATABASE_URL ?? embeddedPgUrl(e.EMBEDDED_PG_PORT, r, pg)]),
      ) as Record<ProjectionRole, string>,
      embedded: e.DATABASE_URL === undefined,
      schema: e.DATABASE_SCHEMA,
      credentialsFile: pgCredentialsFile,
    },
    topics: {
      namespace: e.TOPIC_NAMESPACE,
      partitions: e.TOPIC_PARTITIONS,
      replicationFactor,
      minInsyncReplicas: e.TOPIC_MIN_INSYNC_REPLICAS ?? minInsyncFor(replicationFactor),
    },
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    commandTimeoutMs: e.COMMAND_TIMEOUT_MS,
    sagas: {
      paymentTimeoutMs: e.PAYMENT_TIMEOUT_MS,
      deviceQuota: e.DEVICE_QUOTA_PER_USER,
      installDelayMs: e.INSTALL_DELAY_MS,
      tickMs: e.SAGA_TICK_MS,
    },
    auth,
    consistencyTimeoutMs: e.CONSISTENCY_TIMEOUT_MS,
    tracing: {
      exporter: e.TRACING,
      sampleRatio: e.TRACE_SAMPLE_RATIO,
      dir: path.resolve(e.TRACE_DIR ?? path.join(stackDir, 'traces')),
      otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    },
    stream: { retentionMs: e.STREAM_RETENTION_HOURS * 3_600_000, maxClients: e.STREAM_MAX_CLIENTS, maxPerUser: e.STREAM_MAX_PER_USER },
    pii: { masterKeyFile: path.resolve(e.PII_MASTER_KEY_FILE ?? path.join(stackDir, 'pii', 'master.key')), make: !production },
    logLevel: e.LOG_LEVEL,
  };
}
