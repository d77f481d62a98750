import { hotCommandPartition, killAndRestart, processorTransactionalId, transactionCoordinatorOf, useCluster } from '../cluster';
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
          return killAndRestart(fp, load, coordinator, async () => `kafka-${coordinator} (transaction coordinator of ${transactionalId})`);
        },
      );
    },
    15 * 60_000,
  );
});
