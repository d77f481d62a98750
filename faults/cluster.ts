import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createStack, loadStackConfig, up } from '../scripts/stack/index';
import { clusterSettled, describeQuorum, kafkaNodes } from '../scripts/stack/kafka';
import { sleep } from '../lib/wait';
import { signalComponent, stackUp, waitFor, waitGone, type FaultPlatform, type Load } from './harness';

/**
 * The cluster fault suite's part of the harness (faults/cluster/*.cluster.spec.ts): the three-node KRaft cluster
 * of the local stack brought up for the suite, and what a scenario asks of it — which node leads a partition,
 * coordinates a transactional id, or is the active controller — and how it breaks one: SIGKILL, SIGSTOP, its
 * data directory deleted. Nodes are named as the stack names them (`kafka-1`…`kafka-3`) and signalled through
 * the pids the stack recorded.
 */

/**
 * Makes this test process (and the platform processes it starts) use the three-node cluster, and brings the
 * cluster up (PostgreSQL and the registry are the local stack's own). Called in `beforeAll` of a cluster spec;
 * the cluster project runs alone and in band, so the environment it sets is its own.
 */
export async function useCluster(): Promise<void> {
  process.env.STACK_BROKERS = '3';
  delete process.env.KAFKA_BROKERS;
  delete process.env.TOPIC_REPLICATION_FACTOR;
  delete process.env.TOPIC_MIN_INSYNC_REPLICAS;
  // Like CI's `up --replace`: a cluster another checkout left on these ports is stopped, ours started.
  const stack = createStack(loadStackConfig());
  await up(stack, { log: () => undefined, replace: true });
  // A node answers on its port before the active controller has registered it as a broker, and may be fenced
  // again for a while after (fresh-clone CI runs saw describeCluster return [1, 3] in the layout spec, once
  // after a wait on one node's view): wait until every node's own view lists all three for five checks in a row.
  const all = kafkaNodes(stack.cfg, 'cluster');
  let inARow = 0;
  await waitFor(
    async () => {
      inARow = (await clusterSettled(stack.cfg, all)) ? inARow + 1 : 0;
      return inARow >= 5 ? true : undefined;
    },
    { what: 'every node listing all three brokers for five seconds', timeoutMs: 180_000, intervalMs: 1000 },
  );
}

const nodeName = (id: number) => `kafka-${id}`;
const nodes = (fp: FaultPlatform) => kafkaNodes(fp.stack.cfg, 'cluster');

async function metadata(fp: FaultPlatform, topics: string[]) {
  return (await fp.it.admin()).fetchTopicMetadata({ topics });
}

/** The node that leads a partition now. */
export async function leaderOf(fp: FaultPlatform, topic: string, partition: number): Promise<number> {
  const meta = await metadata(fp, [topic]);
  const leader = meta.topics[0]?.partitions.find((p) => p.partitionId === partition)?.leader;
  if (leader === undefined || leader < 0) throw new Error(`${topic}/${partition} has no leader`);
  return leader;
}

/** The command partition of the device aggregate that has taken the most commands so far. */
export async function hotCommandPartition(fp: FaultPlatform): Promise<number> {
  const offsets = await (await fp.it.admin()).fetchTopicOffsets(fp.topics.device.commands!);
  return [...offsets].sort((a, b) => Number(BigInt(b.high) - BigInt(a.high)))[0]!.partition;
}

/** Java's String.hashCode (the broker hashes a transactional id with it to place its coordinator). */
function javaHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

/**
 * The node that coordinates a transactional id: the leader of its `__transaction_state` partition, which the
 * broker picks as Utils.abs(transactionalId.hashCode) % partitions (TransactionStateManager.partitionFor).
 */
export async function transactionCoordinatorOf(fp: FaultPlatform, transactionalId: string): Promise<number> {
  const meta = await metadata(fp, ['__transaction_state']);
  const count = meta.topics[0]!.partitions.length;
  const h = javaHash(transactionalId);
  const partition = (h === -2147483648 ? 0 : Math.abs(h)) % count;
  return leaderOf(fp, '__transaction_state', partition);
}

/** The command processor's transactional id for a partition of an aggregate's command topic (lib/command-processor.ts). */
export const processorTransactionalId = (fp: FaultPlatform, aggregate: string, partition: number) =>
  `${fp.namespace}.${aggregate}.processor.p${partition}`;

/** The active KRaft controller (DescribeQuorum's leader). */
export async function activeController(fp: FaultPlatform): Promise<number> {
  return (await describeQuorum(fp.stack.cfg, nodes(fp))).leaderId;
}

/** SIGKILLs a node and waits until its process is gone; returns when (epoch ms). */
export async function killNode(fp: FaultPlatform, id: number): Promise<number> {
  const pid = signalComponent(fp.stack, nodeName(id), 'SIGKILL');
  const at = Date.now();
  await waitGone(pid);
  return at;
}

/** Sends SIGSTOP or SIGCONT to a node. */
export const pauseNode = (fp: FaultPlatform, id: number, signal: 'SIGSTOP' | 'SIGCONT') => signalComponent(fp.stack, nodeName(id), signal);

/**
 * Deletes a (stopped) node's data directory: its partitions and its copy of the metadata log, and with them its
 * identity (`meta.properties`), so that it comes back as a new disk the cluster re-replicates onto.
 * `keepIdentity` keeps `meta.properties`: the cluster then takes the empty disk for the one it knew, and a
 * partition with no other replica comes back empty instead of offline.
 */
export function deleteNodeData(fp: FaultPlatform, id: number, opts: { keepIdentity?: boolean } = {}): void {
  const dataDir = path.join(nodes(fp).find((n) => n.id === id)!.home, 'data');
  if (!opts.keepIdentity) return rmSync(dataDir, { recursive: true, force: true });
  for (const entry of readdirSync(dataDir))
    if (entry !== 'meta.properties') rmSync(path.join(dataDir, entry), { recursive: true, force: true });
}

/** Brings every stopped node back (a node without storage is formatted into the cluster again); returns when all are registered. */
export async function restartNodes(fp: FaultPlatform): Promise<number> {
  await stackUp(fp.stack);
  return Date.now();
}

/**
 * Waits until no partition of the cluster (the namespace's topics and Kafka's own) has fewer in-sync replicas
 * than replicas, and none is offline; returns how long that took.
 */
export async function fullyReplicated(fp: FaultPlatform, timeoutMs = 180_000): Promise<number> {
  const started = Date.now();
  await waitFor(
    async () => {
      const admin = await fp.it.admin();
      const meta = await admin.fetchTopicMetadata({ topics: await admin.listTopics() });
      const lagging = meta.topics.flatMap((t) => t.partitions.filter((p) => p.leader < 0 || p.isr.length < p.replicas.length));
      return lagging.length === 0 ? true : undefined;
    },
    { what: 'every partition to be fully replicated again', timeoutMs, intervalMs: 500 },
  );
  return Date.now() - started;
}

/**
 * The kill scenarios' fault: SIGKILLs a node, keeps it down `downMs`, restarts it, and measures how soon every lane
 * is answered again (from the kill), the node is registered again, and every partition is in sync again.
 * `describe` names what was killed (it runs after the kill: e.g. the controller the quorum elected instead).
 */
export async function killAndRestart(
  fp: FaultPlatform,
  load: Load,
  id: number,
  describe: () => Promise<string>,
  downMs = 10_000,
): Promise<Record<string, number | string>> {
  const killed = await killNode(fp, id);
  const lanes = load.recovered(killed);
  const what = await describe();
  await sleep(downMs);
  const back = await restartNodes(fp);
  return {
    killed: what,
    'every lane succeeds again after the kill': await lanes,
    'node down (kill to registered again)': back - killed,
    'fully replicated again after the restart': await fullyReplicated(fp),
  };
}

/**
 * What the load saw while writes could not be made durable (two of three nodes down, `from`..`to`): new writes
 * acknowledged (2xx that replay no earlier result) and reads of the read models (no consistency token) that were
 * not answered 200.
 */
export function duringOutage(load: Load, from: number, to: number) {
  const attempts = load.commands.flatMap((c) => c.attempts).filter((a) => a.at >= from && a.at + a.ms <= to);
  const queries = load.queries.filter((q) => !q.token && q.at >= from && q.at <= to);
  return {
    commandAttempts: attempts.length,
    newWritesAcknowledged: attempts.filter((a) => typeof a.outcome === 'number' && a.outcome < 300 && !a.replayed).length,
    refusedWithRetryAfter: attempts.filter((a) => a.outcome === 503 && a.retryAfter !== null).length,
    reads: queries.length,
    readsNot200: queries.filter((q) => q.outcome !== 200).length,
  };
}
