import { bootstrapNamespace } from '../lib/bootstrap';
import { loadConfig, type Config } from '../lib/config';
import { createKafka } from '../lib/kafka';
import { createLogger } from '../lib/logger';
import { createRegistry } from '../lib/registry';
import { loadEventSchemas } from '../lib/schemas';
import { topicsFor } from '../lib/topics';

/** Creates every topic, grants the components' Kafka ACLs, and registers every schema in schemas/ with BACKWARD compatibility per subject. Idempotent. */
export async function bootstrap(cfg: Config, log: (line: string) => void = console.log): Promise<void> {
  const admin = createKafka(cfg, createLogger('fatal', 'bootstrap'), 'admin', 'bootstrap').admin();
  await admin.connect();
  try {
    const result = await bootstrapNamespace(
      { admin, registry: createRegistry(cfg, 'writer'), schemas: loadEventSchemas() },
      topicsFor(cfg.topics.namespace),
      cfg.topics,
    );
    for (const t of result.topics) log(`topic   ${t.topic.padEnd(38)} ${t.status}, ${t.partitions} partitions`);
    log(
      cfg.kafka.auth === 'none'
        ? 'acls    none: Kafka authentication is off (KAFKA_AUTH=none)'
        : `acls    ${result.acls} granted to the components' principals (lib/acls.ts)`,
    );
    for (const s of result.schemas.filter((r) => r.status === 'registered')) log(`schema  ${s.subject} registered as id ${s.id}`);
    const registered = result.schemas.filter((r) => r.status === 'registered').length;
    log(`schemas ${registered} registered, ${result.schemas.length - registered} unchanged (BACKWARD compatibility on every subject)`);
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
