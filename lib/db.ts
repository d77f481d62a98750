import path from 'node:path';
import knex, { type Knex } from 'knex';
import pg from 'pg';

// bigint columns (money in fen, offsets, counters) come back as numbers: every value the platform stores is far
// below 2^53, and arithmetic on strings would be a silent bug.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Db = Knex;

/** Every migration folder: one per read model, saga and policy. */
export const MIGRATION_DIRS = [
  'projections/common',
  'projections/device',
  'projections/billing',
  'projections/notification',
  'policies/common',
  'policies/purchase-plan',
  'policies/user-lifecycle',
  'policies/device-agent',
].map((p) => path.resolve(__dirname, '..', p, 'migrations'));

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
