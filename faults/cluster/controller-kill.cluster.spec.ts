import { activeController, fullyReplicated, killNode, restartNodes, sleep, useCluster } from '../cluster';
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
          const killed = await killNode(fp, controller);
          const lanes = load.recovered(killed);
          const elected = await activeController(fp).catch(() => -1);
          await sleep(10_000);
          const back = await restartNodes(fp);
          return {
            killed: `kafka-${controller} (active controller${elected > 0 ? `; kafka-${elected} elected` : ''})`,
            'every lane succeeds again after the kill': await lanes,
            'node down (kill to registered again)': back - killed,
            'fully replicated again after the restart': await fullyReplicated(fp),
          };
        },
      );
    },
    15 * 60_000,
  );
});
