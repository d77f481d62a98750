import { ConfigResourceTypes } from 'kafkajs';
import { bootstrapNamespace, dropNamespace, topicSpecs } from '../../lib/bootstrap';
import { createProducer } from '../../lib/kafka';
import { loadEventSchemas } from '../../lib/schemas';
import { topicsFor } from '../../lib/topics';
import { integration, unique, waitFor } from '../../test/support';
import { useCluster } from '../cluster';

/** What a namespace bootstrapped on the cluster (STACK_BROKERS=3, the configuration's defaults) and Kafka's own topics look like. */
describe('the three-node cluster', () => {
  // Made after useCluster has pointed this process at the cluster.
  let it_: ReturnType<typeof integration>;
  beforeAll(async () => {
    await useCluster();
    it_ = integration();
  }, 300_000);
  afterAll(() => it_.close());

  test('every topic of a namespace, and __consumer_offsets and __transaction_state, has 3 replicas, min.insync.replicas 2 and no unclean election', async () => {
    expect(it_.cfg.kafka.brokers).toHaveLength(3);
    expect(it_.cfg.topics).toMatchObject({ replicationFactor: 3, minInsyncReplicas: 2 });
    const admin = await it_.admin();
    const cluster = await admin.describeCluster();
    expect(cluster.brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3]);

    const topics = topicsFor(unique('cluster-layout'));
    const deps = { admin, registry: it_.registry, schemas: loadEventSchemas() };
    await bootstrapNamespace(deps, topics, it_.cfg.topics);
    try {
      // Kafka makes its internal topics on first use (a fresh cluster has none): a group coordinator lookup makes
      // __consumer_offsets, a transactional producer's first transaction __transaction_state.
      await waitFor(() => admin.describeGroups([unique('cluster-layout')]).then(() => true), {
        what: '__consumer_offsets',
        timeoutMs: 60_000,
      });
      const producer = createProducer(it_.kafka, { transactionalId: unique('cluster-layout') });
      await producer.connect();
      try {
        const tx = await producer.transaction();
        await tx.send({ topic: topics.replies, messages: [{ value: 'layout' }] });
        await tx.abort();
      } finally {
        await producer.disconnect();
      }
      const internal = ['__consumer_offsets', '__transaction_state'];
      await waitFor(
        async () => {
          const present = new Set(await admin.listTopics());
          return internal.every((t) => present.has(t)) ? true : undefined;
        },
        {
          what: "Kafka's internal topics",
          timeoutMs: 60_000,
        },
      );
      const names = [...topicSpecs(topics).map((s) => s.name), ...internal];
      const meta = await admin.fetchTopicMetadata({ topics: names });
      for (const t of meta.topics) {
        for (const p of t.partitions) expect({ topic: t.name, replicas: p.replicas.length }).toEqual({ topic: t.name, replicas: 3 });
      }
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: names.map((name) => ({
          type: ConfigResourceTypes.TOPIC,
          name,
          configNames: ['min.insync.replicas', 'unclean.leader.election.enable'],
        })),
      });
      for (const r of configs.resources) {
        const value = (n: string) => r.configEntries.find((e) => e.configName === n)?.configValue;
        expect({ topic: r.resourceName, minIsr: value('min.insync.replicas'), unclean: value('unclean.leader.election.enable') }).toEqual({
          topic: r.resourceName,
          minIsr: '2',
          unclean: 'false',
        });
      }
    } finally {
      await dropNamespace(deps, topics);
    }
  });
});
