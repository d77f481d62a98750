import { activeController, killAndRestart, useCluster } from '../cluster';
import { runScenario } from '../harness';

beforeAll(useCluster, 300_000);

describe('cluster fault: the active KRaft controller is SIGKILLed mid-load', () => {
  test(
    'the quorum elects another controller; nothing acknowledged is lost or doubled; every lane succeeds again',
    async () => {
      await runScenario(
        'cluster-controller-kill',
        'three-node cluster: the active controller (a broker too) SIGKILLed mid-load, down 10 s, restarted',
        async (fp, load) => {
          const controller = await activeController(fp);
          return killAndRestart(fp, load, controller, async () => {
            const elected = await activeController(fp).catch(() => -1);
            return `kafka-${controller} (active controller${elected > 0 ? `; kafka-${elected} elected` : ''})`;
          });
        },
      );
    },
    15 * 60_000,
  );
});
