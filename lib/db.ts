import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import pg from 'pg';
import { passwordFile } from './secret-file';

// bigint columns (money in fen, offsets, counters) come back as numbers: every value the platform stores is far
// below 2^53, and arithmetic on strings would be a silent bug.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Db = Knex;

/**
 * The PostgreSQL roles of the local stack (least privilege, issue 13):
 * - `superuser` (`cloudphone`, made by initdb): the stack alone — databases, roles, grants;
 * - `app` (`cloudphone_app`): owns the app database's schemas and tables; migrations, projection workers, sagas
 *   and rebuilds (its DDL swaps tables);
 * - `query` (`cloudphone_query`): SELECT only, for the query API;
 * - `registry` (`cloudphone_registry`): owns the schema registry's own database, and nothing else;
 * - `device`, `billing`, `notification` (`cloudphone_projection_<name>`): a projection's workers, which may change
 *   only that projection's tables and its checkpoint rows' table (granted after each migration and rebuild swap:
 *   lib/projection.ts grantProjection).
 * Passwords are random, made once into `.stack/postgres/credentials.json` (mode 0600); stored by the server as
 * SCRAM-SHA-256 verifiers, and checked with scram-sha-256 (pg_hba).
 */
export const PROJECTION_ROLES = ['device', 'billing', 'notification'] as const;
export type ProjectionRole = (typeof PROJECTION_ROLES)[number];
/** The database role of a projection's workers, if it has one. */
export const projectionRole = (name: string): ProjectionRole | undefined => PROJECTION_ROLES.find((r) => r === name);
export const PG_ROLES = ['superuser', 'app', 'query', 'registry', ...PROJECTION_ROLES] as const;
export type PgRole = (typeof PG_ROLES)[number];
export const pgRoleName = (r: PgRole) =>
  r === 'superuser' ? 'cloudphone' : (PROJECTION_ROLES as readonly string[]).includes(r) ? `cloudphone_projection_${r}` : `cloudphone_${r}`;

export type PgCredentials = Partial<Record<PgRole, string>>;

/**
 * The roles' passwords: made by the stack (`make`, which also adds the roles a file made earlier lacks), read by
 * the platform; undefined when there is no file yet, and a role the file lacks has no password.
 */
export const pgCredentials = (file: string): PgCredentials | undefined => passwordFile(file, PG_ROLES);

/** The stack's side: every role's password, made (or completed) when missing. */
export const makePgCredentials = (file: string) => passwordFile(file, PG_ROLES, { make: true }) as Record<PgRole, string>;

/** A URL with the right to manage the server (the embedded server's superuser; an external server's DATABASE_URL). */
export function adminDatabaseUrl(db: { url: string; embedded: boolean; credentialsFile: string }, database?: string): string {
  const url = new URL(db.embedded ? embeddedPgUrl(Number(new URL(db.url).port), 'superuser', pgCredentials(db.credentialsFile)) : db.url);
  if (database) url.pathname = `/${database}`;
  return url.toString();
}

/** The URL of a role on the embedded server (its password from the credentials file, when there is one). */
export function embeddedPgUrl(port: number, role: PgRole, credentials: PgCredentials | undefined, database = 'cloudphone'): string {
  const url = new URL(`postgres://127.0.0.1:${port}/${database}`);
  url.username = pgRoleName(role);
  if (credentials?.[role]) url.password = credentials[role];
  return url.toString();
}

/**
 * Every migration folder: a slice that keeps tables has a `migrations/` folder of its own (projections/<name>/,
 * policies/<name>/, their `common/`); nothing lists them. knex runs the migrations of all folders in the order of
 * their timestamped file names.
 */
export const MIGRATION_DIRS = ['projections', 'policies', 'services']
  .map((area) => path.resolve(__dirname, '..', area))
  .flatMap((area) => readdirSync(area, { withFileTypes: true }).map((d) => path.join(area, d.name, 'migrations')))
  .filter((dir) => existsSync(dir))
  .sort();

/**
 * A knex pool on the platform's PostgreSQL. `schema` puts every table in a PostgreSQL schema of its own
 * (tests use one each; the platform uses `public`). `asyncCommit`: a commit returns before its WAL reaches the
 * disk (synchronous_commit off) — for pools that only write read models whose checkpoint commits in the same
 * transaction: a database crash can lose the last fraction of a second of commits, but as whole transactions,
 * checkpoints included, so the workers apply those events again; nothing is lost or doubled.
 */
export function createDb(
  url: string,
  opts: { schema?: string; poolMax?: number; asyncCommit?: boolean; afterCreate?: Knex.PoolConfig['afterCreate'] } = {},
): Db {
  const { asyncCommit, afterCreate } = opts;
  type Done = (err: Error | null, conn: pg.Client) => void;
  return knex({
    client: 'pg',
    connection: url,
    searchPath: opts.schema ? [opts.schema] : undefined,
    pool: {
      min: 0,
      max: opts.poolMax ?? 10,
      ...((asyncCommit || afterCreate) && {
        afterCreate: (conn: pg.Client, done: Done) => {
          const next: Done = (err) => (err || !afterCreate ? done(err, conn) : afterCreate(conn, done));
          if (asyncCommit) conn.query('set synchronous_commit = off', (err: Error | null) => next(err, conn));
          else next(null, conn);
        },
      }),
    },
  });
}

/** Creates the schema if needed and runs every pending migration. */
export async function migrate(db: Db, schema?: string): Promise<string[]> {
  if (schema) await db.raw('create schema if not exists ??', [schema]);
  const [, done] = (await db.migrate.latest({
    directory: MIGRATION_DIRS,
    loadExtensions: ['.ts', '.js'],
    schemaName: schema,
    tableName: 'knex_migrations',
  })) as [number, string[]];
  return done;
}
