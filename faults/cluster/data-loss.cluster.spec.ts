import { sleep } from '../../lib/wait';
import { deleteNodeData, fullyReplicated, killNode, leaderOf, restartNodes, useCluster } from '../cluster';
import { runScenario, type FaultPlatform, type Load } from '../harness';

beforeAll(useCluster, 300_000);

/**
 * Kills the leader of device event partition 0, deletes its data directory, restarts it with empty storage.
 * `defect`: the platform was set up with one replica per topic. Its disk keeps its identity file (with a new
 * identity the cluster would keep the lost partitions offline, and there would be nothing to read), and the
 * platform, having lost records, may never answer again: how long the lanes took is then not awaited.
 */
const loseADisk =
  (defect = false) =>
  async (fp: FaultPlatform, load: Load): Promise<Record<string, number | string>> => {
    const victim = await leaderOf(fp, fp.topics.device.events, 0);
    const killed = await killNode(fp, victim);
    deleteNodeData(fp, victim, { keepIdentity: defect });
    const lanes = load.recovered(killed, defect ? 30_000 : undefined).catch((err: Error) => {
      if (defect) return `not recovered: ${err.message}`;
      throw err;
    });
    await sleep(5_000);
    const back = await restartNodes(fp);
    return {
      killed: `kafka-${victim} (leader of ${fp.topics.device.events}/0), its data directory deleted`,
      'every lane succeeds again after the kill': await lanes,
      'node down (kill to registered again with new storage)': back - killed,
      're-replicated (every partition fully in sync again)': await fullyReplicated(fp),
    };
  };

describe('cluster fault: a node loses its disk', () => {
  test(
    'with three replicas: the node comes back empty, re-replicates, and nothing is lost',
    async () => {
      await runScenario(
        'cluster-disk-loss',
        'three-node cluster: a node SIGKILLed, its data directory deleted, restarted with empty storage',
        loseADisk(),
      );
    },
    15 * 60_000,
  );

  test(
    'the history checker can fail: with one replica per topic (a deliberate defect) it reports the acknowledged events that were lost',
    async () => {
      const report = await runScenario(
        'cluster-disk-loss-defect',
        'three-node cluster: a node SIGKILLed, its data directory deleted, restarted with empty storage',
        loseADisk(true),
        { layout: { replicationFactor: 1, minInsyncReplicas: 1 }, defect: 'every topic of the namespace has one replica' },
      );
      expect(report.commands.acknowledged).toBeGreaterThan(0);
      expect(report.books.acknowledgedMissing.length).toBeGreaterThan(0);
    },
    15 * 60_000,
  );
});
