import { fullyReplicated, hotCommandPartition, killNode, leaderOf, restartNodes, sleep, useCluster } from '../cluster';
import { runScenario } from '../harness';

beforeAll(useCluster, 300_000);

describe('cluster fault: the leader of a hot command partition is SIGKILLed mid-load', () => {
  test(
    'another replica takes over: nothing acknowledged is lost or doubled, every lane succeeds again, the node rejoins',
    async () => {
      await runScenario(
        'cluster-leader-kill',
        'three-node cluster: the leader of the busiest device command partition SIGKILLed mid-load, down 10 s, restarted',
        async (fp, load) => {
          const partition = await hotCommandPartition(fp);
          const leader = await leaderOf(fp, fp.topics.device.commands!, partition);
          const killed = await killNode(fp, leader);
          const moved = await leaderOf(fp, fp.topics.device.commands!, partition).catch(() => -1);
          const lanes = load.recovered(killed);
          await sleep(10_000);
          const back = await restartNodes(fp);
          return {
            killed: `kafka-${leader} (leader of ${fp.topics.device.commands}/${partition}${moved >= 0 && moved !== leader ? `, then kafka-${moved}` : ''})`,
            'every lane succeeds again after the kill': await lanes,
            'node down (kill to registered again)': back - killed,
            'fully replicated again after the restart': await fullyReplicated(fp),
          };
        },
        { connectionErrorsExpected: false },
      );
    },
    15 * 60_000,
  );
});
