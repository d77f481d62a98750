import path from 'node:path';
import { z } from 'zod';

/**
 * The platform's configuration: parsed and validated once at start-up from the
 * environment, then passed down as a plain object. Nothing else reads process.env.
 */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const EMBEDDED_PG_PORT_DEFAULT = 54329;

const schema = z.object({
  KAFKA_BROKERS: z.string().min(1).default('127.0.0.1:9092'),
  KAFKA_CLIENT_ID: z.string().min(1).default('cloudphone'),
  SCHEMA_REGISTRY_URL: z.string().url().default('http://127.0.0.1:8080/apis/ccompat/v7'),
  DATABASE_URL: z.string().url().optional(),
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
  TOPIC_REPLICATION_FACTOR: int(1, 5).default(1),
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
  STACK_DIR: z.string().optional(),
  CONSISTENCY_TIMEOUT_MS: int(0, 60_000).default(5000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface Config {
  kafka: { brokers: string[]; clientId: string };
  registry: { url: string };
  /** Where the platform's own database lives; `embedded` when the stack runs its own PostgreSQL. */
  database: { url: string; embedded: boolean; schema?: string };
  topics: { namespace: string; partitions: number; replicationFactor: number };
  http: { host: string; port: number };
  /** How long the API waits for a command's reply before answering 503. */
  commandTimeoutMs: number;
  sagas: { paymentTimeoutMs: number; deviceQuota: number; installDelayMs: number; tickMs: number };
  auth: AuthConfig;
  /** How long a query with a consistency token waits for the projections before answering 503. */
  consistencyTimeoutMs: number;
  logLevel: z.infer<typeof schema>['LOG_LEVEL'];
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
  const root = path.resolve(__dirname, '..');
  const auth: AuthConfig = {
    issuer: e.AUTH_ISSUER ?? DEV_ISSUER,
    audience: e.AUTH_AUDIENCE,
    maxLifetimeSeconds: e.AUTH_MAX_TOKEN_LIFETIME_S,
    ...(e.AUTH_JWKS_URL
      ? { jwksUrl: e.AUTH_JWKS_URL }
      : { devKeyFile: path.join(path.resolve(e.STACK_DIR ?? path.join(root, '.stack')), 'auth', 'dev-signing-key.jwk.json') }),
  };
  return {
    kafka: { brokers: e.KAFKA_BROKERS.split(',').map((b) => b.trim()), clientId: e.KAFKA_CLIENT_ID },
    registry: { url: e.SCHEMA_REGISTRY_URL.replace(/\/+$/, '') },
    database: {
      url: e.DATABASE_URL ?? `postgres://cloudphone:cloudphone@127.0.0.1:${e.EMBEDDED_PG_PORT}/cloudphone`,
      embedded: e.DATABASE_URL === undefined,
      schema: e.DATABASE_SCHEMA,
    },
    topics: { namespace: e.TOPIC_NAMESPACE, partitions: e.TOPIC_PARTITIONS, replicationFactor: e.TOPIC_REPLICATION_FACTOR },
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
    logLevel: e.LOG_LEVEL,
  };
}
