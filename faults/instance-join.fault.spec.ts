import { FULL, runScenario, waitFor } from './harness';

/** The log the platform finds when it starts (written with no snapshots, as after an upgrade). */
const LONG_LOG = FULL ? 300_000 : 30_000;

describe('fault: an instance joins a running group under load, over a long log', () => {
  test(
    'it restores only the partitions it is given, from their snapshots; the books hold; the takeover time is reported',
    async () => {
      await runScenario(
        'instance-join',
        `a third API instance started under load over a log of ${LONG_LOG.toLocaleString('en')} events (the first two folded it once and wrote snapshots)`,
        async (fp, load) => {
          await waitFor(() => (load.inflight(0) + load.inflight(1) > 0 ? true : undefined), {
            what: 'commands in flight',
            timeoutMs: 30_000,
            intervalMs: 1,
          });
          const joined = Date.now();
          const api2 = await fp.startApi(2);
          const listening = Date.now() - joined;
          const ready = await api2.ready();
          // It read snapshots, not the log: no partition folded from its events, and at most the events written
          // between a snapshot and the fence (none, since every batch writes its snapshots).
          expect(ready.folded).toBe(0);
          expect(ready.events).toBeLessThan(LONG_LOG / 100);
          expect(ready.snapshots).toBeGreaterThan(0);
          return {
            'instance 2 listening (from spawn)': listening,
            'instance 2 writers restored (from its process start)': ready.ms,
            'instance 2 longest restore': ready.restoreMs,
            'instance 2 restored': `${ready.aggregates} aggregates in ${ready.partitions} partitions from ${ready.snapshots} snapshot records and ${ready.events} events`,
            'every lane succeeds again after the join': await load.recovered(joined),
          };
        },
        { longLog: LONG_LOG },
      );
    },
    15 * 60_000,
  );
});
