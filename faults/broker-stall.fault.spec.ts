import { runScenario, SCALE, signalComponent } from './harness';
import { sleep } from '../lib/wait';

describe('fault: the broker stalls (SIGSTOP) past every client timeout, then resumes (SIGCONT)', () => {
  test(
    'the APIs answer 503 with Retry-After during the stall, not 500 and not a hang; nothing is lost or doubled; everything recovers',
    async () => {
      await runScenario(
        'broker-stall',
        `Kafka broker SIGSTOPped mid-load for ${SCALE.stallMs / 1000} s (past the 4 s command timeout, the 10 s session timeout and the 30 s request timeout), then SIGCONTed`,
        async (fp, load) => {
          const stalled = Date.now();
          signalComponent(fp.stack, 'kafka', 'SIGSTOP');
          try {
            await sleep(SCALE.stallMs);
          } finally {
            signalComponent(fp.stack, 'kafka', 'SIGCONT');
          }
          const back = Date.now();
          return { 'broker stalled': back - stalled, 'every lane succeeds again after the broker resumed': await load.recovered(back) };
        },
        { expect503: true },
      );
    },
    15 * 60_000,
  );
});
