import { sleep } from '../../lib/wait';
import { fullyReplicated, hotCommandPartition, leaderOf, pauseNode, useCluster } from '../cluster';
import { runScenario, waitFor } from '../harness';

beforeAll(useCluster, 300_000);

/** Past the brokers' 9 s session with the controller, and past the clients' request timeout. */
const STALL_MS = 35_000;

describe('cluster fault: a partition leader stalls (SIGSTOP) past its session timeout, then resumes (SIGCONT)', () => {
  test(
    'the cluster fences the zombie and elects a new leader; once it resumes it follows, the load recovers by itself, nothing is lost or doubled',
    async () => {
      await runScenario(
        'cluster-leader-stall',
        `three-node cluster: the leader of the busiest device command partition SIGSTOPped ${STALL_MS / 1000} s mid-load, then SIGCONTed`,
        async (fp, load) => {
          const topic = fp.topics.device.commands!;
          const partition = await hotCommandPartition(fp);
          const leader = await leaderOf(fp, topic, partition);
          const stalled = Date.now();
          pauseNode(fp, leader, 'SIGSTOP');
          let resumed: number;
          let successor = -1;
          // Whether the platform went on with the two other nodes while the zombie was stopped (measured, not
          // required: see the README — kafkajs clients waited on the stopped node's connections).
          const duringStall = load.recovered(stalled, STALL_MS).then(
            (ms) => `${(ms / 1000).toFixed(1)}s`,
            () => `no: not every lane within the ${STALL_MS / 1000} s stall`,
          );
          try {
            // The controller fences the silent broker and moves its leaderships to the in-sync followers.
            successor = await waitFor(
              async () => {
                const now = await leaderOf(fp, topic, partition).catch(() => -1);
                return now > 0 && now !== leader ? now : undefined;
              },
              { what: `a new leader for ${topic}/${partition}`, timeoutMs: STALL_MS, intervalMs: 250 },
            );
            const failover = Date.now() - stalled;
            await sleep(Math.max(0, STALL_MS - (Date.now() - stalled)));
            pauseNode(fp, leader, 'SIGCONT');
            resumed = Date.now();
            return {
              stalled: `kafka-${leader} (leader of ${topic}/${partition}; kafka-${successor} took over) for ${STALL_MS / 1000} s`,
              'leadership moved after the stall began': failover,
              'every lane succeeded during the stall': await duringStall,
              'every lane succeeds again after SIGCONT': await load.recovered(resumed),
              'fully replicated again after SIGCONT': await fullyReplicated(fp),
            };
          } finally {
            pauseNode(fp, leader, 'SIGCONT');
          }
        },
      );
    },
    15 * 60_000,
  );
});
