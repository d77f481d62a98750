import { runScenario, signalComponent, stackUp, waitGone } from './harness';
import { sleep } from '../lib/wait';

describe('fault: the Kafka broker is SIGKILLed mid-load and restarted', () => {
  test(
    'nothing acknowledged is lost or doubled, the APIs answer 503 with Retry-After while it is down, and recover',
    async () => {
      await runScenario(
        'broker-kill',
        'Kafka broker SIGKILLed mid-load, down 5 s, restarted by the stack',
        async (fp, load) => {
          const pid = signalComponent(fp.stack, 'kafka', 'SIGKILL');
          const killed = Date.now();
          await waitGone(pid);
          await sleep(5_000);
          await stackUp(fp.stack);
          const back = Date.now();
          return {
            'broker down (kill to healthy again)': back - killed,
            'every lane succeeds again after the broker is back': await load.recovered(back),
          };
        },
        { expect503: true },
      );
    },
    15 * 60_000,
  );
});
