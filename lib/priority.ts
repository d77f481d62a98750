import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import type { Knex } from 'knex';
import type pg from 'pg';

/**
 * Background priority for work that must not take CPU from the live path (a rebuild replaying millions of events
 * next to the query API): a niceness for the process and, when PostgreSQL runs on this machine, for the database
 * sessions doing that work. Linux schedules threads, and setpriority() on a pid changes one thread only, so every
 * thread of the process is reniced (V8's compiler and GC helpers, libuv's pool), not just the main one.
 */
export const BACKGROUND_NICENESS = 19;

/** Sets the niceness of every thread of this process; returns how many it changed (0 where /proc is missing). */
export function lowerProcessPriority(niceness = BACKGROUND_NICENESS): number {
  let tids: number[];
  try {
    tids = readdirSync('/proc/self/task').map(Number);
  } catch {
    tids = [0];
  }
  let changed = 0;
  for (const tid of tids) {
    try {
      if (os.getPriority(tid) < niceness) os.setPriority(tid, niceness);
      changed++;
    } catch {
      // A thread that ended meanwhile, or no permission: the others still get it.
    }
  }
  return changed;
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * A knex `pool.afterCreate` that renices each new session's server process — only when the database is on this
 * machine (a loopback host) and the pid is a `postgres` process here; otherwise (a remote server) it does nothing.
 */
export function backgroundSessions(databaseUrl: string, niceness = BACKGROUND_NICENESS): Knex.PoolConfig['afterCreate'] {
  const local = LOCAL_HOSTS.has(new URL(databaseUrl).hostname);
  return (conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) => {
    if (!local) return done(null, conn);
    conn.query('select pg_backend_pid() as pid', (err: Error | null, res: pg.QueryResult<{ pid: number }>) => {
      if (err) return done(err, conn);
      const pid = res.rows[0]!.pid;
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres') os.setPriority(pid, niceness);
      } catch {
        // Not ours to renice (another user's server, another OS): the session runs at normal priority.
      }
      done(null, conn);
    });
  };
}
