import { Command } from 'commander';
import { loadConfig } from '../lib/config';
import { createDb } from '../lib/db';
import { createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { createRegistry } from '../lib/registry';
import { topicsFor } from '../lib/topics';
import { projectionStatus } from '../projections/routes';
import { PROJECTIONS } from '../platform/read-side';

/**
 * `npm run status`: the platform at a glance — topics with partitions and end offsets, registered subjects with
 * their versions and compatibility levels, projections with checkpoints, lag and dead-letter counts.
 */
new Command('status')
  .description('topics, schema subjects and projections of the platform')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) => {
    const cfg = loadConfig();
    const kafka = createKafka(cfg, createLogger('fatal', 'status'), 'tools', 'status');
    const registry = createRegistry(cfg, 'reader');
    const topics = topicsFor(cfg.topics.namespace);
    const db = createDb(cfg.database.url, { schema: cfg.database.schema, poolMax: 2 });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const names = (await admin.listTopics()).filter((t) => t.startsWith(`${topics.namespace}.`)).sort();
      const topicRows = [];
      for (const t of names) {
        const offsets = await admin.fetchTopicOffsets(t);
        offsets.sort((a, b) => a.partition - b.partition);
        topicRows.push({
          topic: t,
          partitions: offsets.length,
          endOffsets: offsets.reduce((n, p) => n + Number(p.high), 0),
          byPartition: offsets.map((p) => p.high).join(' '),
        });
      }
      const subjects = (await registry.subjects()).filter((s) => s.startsWith(`${topics.namespace}.`)).sort();
      const subjectRows = [];
      for (const s of subjects)
        subjectRows.push({
          subject: s,
          versions: (await registry.versions(s)).join(','),
          compatibility: (await registry.compatibility(s)) ?? 'default',
        });
      const projections = await projectionStatus({ db, admin, topics, projections: Object.values(PROJECTIONS) }).catch((err: Error) => {
        console.error(`projections: ${err.message} (have the workers run once: npm start)`);
        return [];
      });
      if (o.json) return console.log(JSON.stringify({ topics: topicRows, subjects: subjectRows, projections }, null, 2));
      console.log('== topics');
      console.table(topicRows);
      console.log('== schema subjects');
      console.table(subjectRows);
      console.log('== projections');
      console.table(
        projections.map((p) => ({
          projection: p.projection,
          checkpoints: p.partitions.reduce((n, x) => n + x.checkpoint, 0),
          endOffsets: p.partitions.reduce((n, x) => n + x.endOffset, 0),
          lag: p.lag,
          appliedEvents: p.appliedEvents,
          deadLetters: p.deadLetters,
        })),
      );
      for (const p of projections) {
        const behind = p.partitions.filter((x) => x.lag > 0);
        if (behind.length > 0)
          console.log(`${p.projection} is behind on ${behind.map((x) => `${x.topic}[${x.partition}] by ${x.lag}`).join(', ')}`);
      }
    } finally {
      await admin.disconnect();
      await db.destroy();
    }
  })
  .parseAsync()
  .catch((err: unknown) => {
    console.error(`status: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
