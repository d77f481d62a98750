import { FULL, runScenario, SCALE, waitFor, type FaultPlatform } from './harness';
import { sleep } from '../lib/wait';

/** The shadow schemas of rebuilds of `projection` that exist right now. */
const shadows = async (fp: FaultPlatform, projection: string): Promise<string[]> =>
  (
    (await fp
      .db('pg_namespace')
      .withSchema('pg_catalog')
      .where('nspname', 'like', `rebuild\\_${projection}\\_%`)
      .pluck('nspname')) as string[]
  ).sort();

describe('fault: projection workers SIGKILLed again and again during a rebuild', () => {
  test(
    'the rebuild, killed mid-replay and run again, swaps in a model equal to the pure fold while the live worker is killed around it',
    async () => {
      const projections = FULL ? ['billing', 'device', 'notification'] : ['billing'];
      await runScenario(
        'projection-kill',
        `npm run rebuild -- ${projections.join('|')}: the rebuild process SIGKILLed ${SCALE.kills} times mid-replay (each time once its shadow schema exists) and run again to the swap; the live projection worker SIGKILLed and restarted around every kill; the load keeps running`,
        async (fp) => {
          const out: Record<string, number | string> = {};
          const before = new Set(await Promise.all(projections.map((p) => shadows(fp, p))).then((xs) => xs.flat()));
          let killedMidReplay = 0;
          for (const projection of projections) {
            for (let k = 0; k < SCALE.kills; k++) {
              const rb = fp.startRebuild(projection, `rebuild-${projection}-${k}`);
              // Once its shadow schema exists it is replaying: kill it then, at a random moment, and the live worker too.
              const known = new Set(await shadows(fp, projection));
              const started = await Promise.race([
                waitFor(async () => ((await shadows(fp, projection)).some((s) => !known.has(s) && !before.has(s)) ? true : undefined), {
                  what: `the rebuild of ${projection} to create its shadow schema`,
                  timeoutMs: 120_000,
                  intervalMs: 20,
                }),
                rb.exited.then(() => false),
              ]);
              await sleep(Math.floor(Math.random() * 300));
              if (started && rb.child.exitCode === null) killedMidReplay++;
              await fp.kill(rb.name);
              await fp.kill('worker');
              fp.startWorker();
            }
            const last = fp.startRebuild(projection, `rebuild-${projection}-final`);
            const t0 = Date.now();
            await sleep(Math.floor(Math.random() * 3000));
            await fp.kill('worker');
            fp.startWorker();
            const code = await Promise.race([last.exited, sleep(180_000).then(() => 'timeout' as const)]);
            expect({ projection, rebuild: code }).toEqual({ projection, rebuild: 0 });
            out[`rebuild of ${projection} to the swap (with a live worker killed meanwhile)`] = Date.now() - t0;
          }
          expect(killedMidReplay).toBeGreaterThan(0);
          out['rebuilds killed mid-replay'] = `${killedMidReplay} of ${SCALE.kills * projections.length}`;
          // Killed rebuilds leave their shadow schemas behind (by design: a rebuild drops only its own).
          const left = (await Promise.all(projections.map((p) => shadows(fp, p)))).flat().filter((s) => !before.has(s));
          for (const s of left) await fp.db.raw('drop schema if exists ?? cascade', [s]);
          return out;
        },
      );
    },
    20 * 60_000,
  );
});
