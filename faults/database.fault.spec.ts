import pg from 'pg';
import { adminDatabaseUrl } from '../lib/db';
import { runScenario, SCALE, stackUp } from './harness';
import { sleep } from '../lib/wait';

/** Terminates every other connection to the platform's and the registry's databases; returns how many. */
async function terminateBackends(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const res = await client.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where datname in (current_database(), current_database() || '_registry') and pid <> pg_backend_pid()`,
    );
    return res.rowCount ?? 0;
  } finally {
    await client.end();
  }
}

describe('fault: PostgreSQL connections terminated, then PostgreSQL restarted, mid-load', () => {
  test(
    'the read models lose and double nothing, queries answer 503 with Retry-After while it is down, and everything recovers',
    async () => {
      await runScenario(
        'database',
        `pg_terminate_backend on every connection mid-load; then PostgreSQL stopped ${SCALE.pgDownMs / 1000} s and restarted (embedded PostgreSQL only)`,
        async (fp, load) => {
          const terminated = Date.now();
          const n = await terminateBackends(adminDatabaseUrl(fp.cfg.database));
          const out: Record<string, number> = {
            [`every lane succeeds after ${n} connections were terminated`]: await load.recovered(terminated),
          };
          if (!fp.stack.postgres.external) {
            const stopped = Date.now();
            await fp.stack.postgres.stop();
            await sleep(SCALE.pgDownMs);
            await stackUp(fp.stack);
            const back = Date.now();
            out['postgres down (stop to healthy again)'] = back - stopped;
            out['every lane succeeds again after postgres is back'] = await load.recovered(back);
          }
          return out;
        },
      );
    },
    15 * 60_000,
  );
});
