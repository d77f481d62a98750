import { sleep } from '../../lib/wait';
import { activeController, duringOutage, killNode, restartNodes, useCluster } from '../cluster';
import { runScenario } from '../harness';

beforeAll(useCluster, 300_000);

/** How long two nodes stay down: past the 4 s command timeout several times over. */
const OUTAGE_MS = 20_000;

describe('cluster fault: two of three nodes down', () => {
  test(
    'writes are refused with 503 and Retry-After, never acknowledged; the query API keeps answering; all back, the load resumes by itself',
    async () => {
      let outage: ReturnType<typeof duringOutage> | undefined;
      const report = await runScenario(
        'cluster-two-down',
        `three-node cluster: the active controller and one other node SIGKILLed mid-load, both down ${OUTAGE_MS / 1000} s, restarted`,
        async (fp, load) => {
          const controller = await activeController(fp);
          const other = [1, 2, 3].find((id) => id !== controller)!;
          const first = await killNode(fp, controller);
          await killNode(fp, other);
          const down = Date.now();
          await sleep(OUTAGE_MS);
          const restarting = Date.now();
          outage = duringOutage(load, down, restarting);
          const back = await restartNodes(fp);
          return {
            killed: `kafka-${controller} (active controller) and kafka-${other}`,
            'both down (first kill to both registered again)': back - first,
            'every lane succeeds again after both are back': await load.recovered(back),
            'while two were down': JSON.stringify(outage),
          };
        },
        { expect503: true, connectionErrorsExpected: false },
      );
      expect(report.books.acknowledgedMissing).toEqual([]);
      expect(outage!.commandAttempts).toBeGreaterThan(0);
      expect(outage!.newWritesAcknowledged).toBe(0);
      expect(outage!.refusedWithRetryAfter).toBeGreaterThan(0);
      expect(outage!.reads).toBeGreaterThan(0);
      expect(outage!.readsNot200).toBe(0);
    },
    15 * 60_000,
  );
});
