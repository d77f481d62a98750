import { runScenario, waitFor } from './harness';

describe('fault: a command-processing instance is SIGKILLed mid-transaction while a second one runs', () => {
  test(
    'the other instance takes its partitions over; retries with the same Idempotency-Key get the first result; nothing is lost or doubled',
    async () => {
      await runScenario(
        'instance-kill',
        'API instance 0 (command processors, bus, HTTP) SIGKILLed while it has commands in flight; instance 1 keeps running; instance 0 restarted after recovery',
        async (fp, load) => {
          await waitFor(() => (load.inflight(0) > 0 ? true : undefined), {
            what: 'commands in flight on instance 0',
            timeoutMs: 30_000,
            intervalMs: 1,
          });
          const killed = Date.now();
          await fp.kill('api0', 'SIGKILL');
          const takeover = await load.recovered(killed);
          await fp.startApi(0);
          const restarted = Date.now();
          return {
            'every lane succeeds again after the kill (instance 1 alone)': takeover,
            'every lane succeeds again after instance 0 rejoined': await load.recovered(restarted),
          };
        },
        { connectionErrorsExpected: true },
      );
    },
    15 * 60_000,
  );
});
