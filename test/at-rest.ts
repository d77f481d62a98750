import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../lib/config';
import { embeddedPgUrl, pgCredentials } from '../lib/db';

/**
 * Where data rests on the local stack, searched byte for byte: the Kafka log directories of topics, every row of
 * every table of the platform's and the registry's databases, the stack's logs. Each returns, per needle, where it
 * was found (empty: nowhere).
 */
export type Hits = Record<string, string[]>;

const search = (hits: Hits, where: string, haystack: Buffer, needles: readonly string[]) => {
  for (const n of needles) if (haystack.includes(Buffer.from(n, 'utf8'))) hits[n]!.push(where);
};
const empty = (needles: readonly string[]): Hits => Object.fromEntries(needles.map((n) => [n, []]));

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)])));
  return nested.flat();
}

/** Every file (segments, indexes, snapshots) of the partitions of the topics whose names start with `prefix`. */
export async function kafkaLogHits(dataDir: string, prefix: string, needles: readonly string[]): Promise<{ hits: Hits; files: number }> {
  const hits = empty(needles);
  const dirs = (await readdir(dataDir)).filter((d) => d.startsWith(prefix));
  const files = (await Promise.all(dirs.map((d) => filesUnder(path.join(dataDir, d))))).flat();
  for (const f of files) search(hits, path.relative(dataDir, f), await readFile(f).catch(() => Buffer.alloc(0)), needles);
  return { hits, files: files.length };
}

/**
 * Every row of every table of every schema of the platform's and the registry's databases, as text: what pg_dump
 * would write of their data (the machine's pg_dump is version 15, which refuses to dump a version 18 server).
 */
export async function databaseHits(cfg: Config, needles: readonly string[]): Promise<{ hits: Hits; tables: number }> {
  const hits = empty(needles);
  let tables = 0;
  const app = decodeURIComponent(new URL(cfg.database.url).pathname.slice(1));
  for (const database of [app, `${app}_registry`]) {
    const url = embeddedPgUrl(Number(new URL(cfg.database.url).port), 'superuser', pgCredentials(cfg.database.credentialsFile), database);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ schemaname: string; tablename: string }>(
        `select schemaname, tablename from pg_tables where schemaname not in ('pg_catalog', 'information_schema')`,
      );
      for (const { schemaname, tablename } of rows) {
        const name = `${client.escapeIdentifier(schemaname)}.${client.escapeIdentifier(tablename)}`;
        const data = await client.query<{ t: string }>(`select t::text as t from ${name} t`);
        search(hits, `${database}.${schemaname}.${tablename}`, Buffer.from(data.rows.map((r) => r.t).join('\n'), 'utf8'), needles);
        tables += 1;
      }
    } finally {
      await client.end();
    }
  }
  return { hits, tables };
}

/** The stack's logs (Kafka, the registry, PostgreSQL) and the test processes' logs under it. */
export async function logHits(logDir: string, needles: readonly string[]): Promise<Hits> {
  const hits = empty(needles);
  for (const f of await filesUnder(logDir)) search(hits, f, await readFile(f), needles);
  return hits;
}
