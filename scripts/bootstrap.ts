import { ensureTopics, registerSchemas, schemasOf } from '../lib/bootstrap';
import { loadConfig, type Config } from '../lib/config';
import { createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { createRegistry } from '../lib/registry';
import { loadEventSchemas } from '../lib/schemas';
import { AGGREGATE_TOPICS, SMOKE_TOPIC } from '../lib/topics';

/** Creates every topic and registers every schema in schemas/ with BACKWARD compatibility per subject. Idempotent. */
export async function bootstrap(cfg: Config, log: (line: string) => void = console.log): Promise<void> {
  const kafka = createKafka(cfg, createLogger('warn', 'bootstrap'), 'bootstrap');
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = [...AGGREGATE_TOPICS, SMOKE_TOPIC];
    const results = await ensureTopics(
      admin,
      topics.map((t) => t.name),
      cfg.topics,
    );
    for (const t of results) log(`topic   ${t.topic.padEnd(34)} ${t.status}, ${t.partitions} partitions`);
    const registry = createRegistry(cfg.registry.url);
    const schemas = loadEventSchemas();
    let registered = 0;
    let unchanged = 0;
    for (const topic of topics) {
      for (const r of await registerSchemas(registry, topic.name, schemasOf(topic, schemas))) {
        if (r.status === 'registered') {
          registered++;
          log(`schema  ${r.subject} registered as id ${r.id}`);
        } else unchanged++;
      }
    }
    log(`schemas ${registered} registered, ${unchanged} unchanged (BACKWARD compatibility on every subject)`);
  } finally {
    await admin.disconnect();
  }
}

if (require.main === module) {
  bootstrap(loadConfig()).catch((err: unknown) => {
    console.error(`bootstrap: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
