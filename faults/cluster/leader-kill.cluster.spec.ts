import { hotCommandPartition, killAndRestart, leaderOf, useCluster } from '../cluster';
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
          return killAndRestart(fp, load, leader, async () => `kafka-${leader} (leader of ${fp.topics.device.commands}/${partition})`);
        },
        { connectionErrorsExpected: false },
      );
    },
    15 * 60_000,
  );
});
