import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { CHECKPOINTS } from '../lib/projection-worker';
import { readSideFixture } from '../test/read-side';
import { waitFor } from '../test/support';
import { billingProjection } from './billing/projection';
import { deviceProjection } from './device/projection';

let fx: Awaited<ReturnType<typeof readSideFixture>>;
beforeAll(async () => {
  fx = await readSideFixture('crash');
});
afterAll(() => fx?.close());

/**
 * A projection worker in a process of its own, as `npm run projections` runs it. One process, with tsx as a loader:
 * the tsx CLI would run the worker in a child of its own, which a SIGKILL of the CLI leaves running.
 */
function worker(): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'scripts', 'projections.ts'), 'device', 'billing'], {
    env: { ...process.env, TOPIC_NAMESPACE: fx.cfg.topics.namespace, DATABASE_SCHEMA: fx.cfg.database.schema, LOG_LEVEL: 'error' },
    stdio: 'ignore',
  });
}

const applied = async () => Number((await fx.db(CHECKPOINTS).sum({ n: 'applied_events' }).first())?.n ?? 0);

describe('crash safety', () => {
  test('SIGKILL at random points while thousands of events are applied: the read models end exactly as the pure fold', async () => {
    let kills = 0;
    for (let round = 0; round < 3; round++) {
      await fx.feed(60, 100 + round);
      const before = await applied();
      const child = worker();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      // Kill once it is applying this round's events, at a random moment.
      await waitFor(async () => ((await applied()) > before ? true : undefined), {
        what: 'the worker to apply events',
        timeoutMs: 60_000,
        intervalMs: 20,
      });
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)));
      child.kill('SIGKILL');
      await exited;
      kills++;
    }
    const last = worker();
    try {
      await fx.caughtUp(deviceProjection);
      await fx.caughtUp(billingProjection);
      expect(kills).toBe(3);
      expect(fx.produced.length).toBeGreaterThan(2000);
      expect(await fx.readModel(deviceProjection)).toEqual(fx.reference(deviceProjection));
      expect(await fx.readModel(billingProjection)).toEqual(fx.reference(billingProjection));
      const perProjection = (await fx.db(CHECKPOINTS).select('projection').sum({ n: 'applied_events' }).groupBy('projection')) as Array<{
        projection: string;
        n: number;
      }>;
      const count = (prefixes: string[]) => fx.produced.filter((e) => prefixes.some((p) => e.type.startsWith(p))).length;
      expect(Object.fromEntries(perProjection.map((r) => [r.projection, Number(r.n)]))).toEqual({
        device: count(['user.', 'device.', 'app.install.']),
        billing: count(['user.', 'device.', 'order.']),
      });
    } finally {
      last.kill('SIGTERM');
    }
  });
});
