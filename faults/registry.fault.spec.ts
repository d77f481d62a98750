import { runScenario, SCALE, stackUp } from './harness';
import { sleep } from '../lib/wait';

describe('fault: the schema registry is stopped mid-load and restarted', () => {
  test(
    'commands and projections carry on or answer 503 with Retry-After, nothing is lost or doubled, and everything recovers',
    async () => {
      await runScenario(
        'registry',
        `schema registry stopped mid-load for ${SCALE.registryDownMs / 1000} s, then restarted`,
        async (fp, load) => {
          const stopped = Date.now();
          await fp.stack.registry.stop();
          await sleep(SCALE.registryDownMs);
          await stackUp(fp.stack);
          const back = Date.now();
          return {
            'registry down (stop to healthy again)': back - stopped,
            'every lane succeeds again after the registry is back': await load.recovered(back),
          };
        },
      );
    },
    15 * 60_000,
  );
});
