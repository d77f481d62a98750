import {
  fullyReplicated,
  hotCommandPartition,
  killNode,
  processorTransactionalId,
  restartNodes,
  sleep,
  transactionCoordinatorOf,
  useCluster,
} from '../cluster';
import { runScenario } from '../harness';

beforeAll(useCluster, 300_000);

describe('cluster fault: the transaction coordinator is SIGKILLed while commits are in flight', () => {
  test(
    'transactions in flight are aborted or completed, never half-visible; nothing acknowledged is lost or doubled',
    async () => {
      await runScenario(
        'cluster-coordinator-kill',
        'three-node cluster: the node coordinating the busiest device partition’s processor transactions SIGKILLed mid-load, down 10 s, restarted',
        async (fp, load) => {
          const partition = await hotCommandPartition(fp);
          const transactionalId = processorTransactionalId(fp, 'device', partition);
          const coordinator = await transactionCoordinatorOf(fp, transactionalId);
          const killed = await killNode(fp, coordinator);
          const lanes = load.recovered(killed);
          await sleep(10_000);
          const back = await restartNodes(fp);
          return {
            killed: `kafka-${coordinator} (transaction coordinator of ${transactionalId})`,
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
