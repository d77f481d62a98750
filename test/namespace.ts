import { bootstrapNamespace, dropNamespace } from '../lib/bootstrap';
import type { Config } from '../lib/config';
import { loadEventSchemas } from '../lib/schemas';
import { topicsFor, type Topics } from '../lib/topics';
import { testDatabase } from './projection-harness';
import { unique, type integration } from './support';

export interface NamespaceOptions {
  /** Partitions of every topic of the namespace (one replica: the local stack has one broker). */
  partitions: number;
  /**
   * A PostgreSQL schema of its own too (`testDatabase(prefix)`): migrated by `setup` when `migrate`, else left to
   * whoever starts the read side (its projections migrate it).
   */
  database?: { prefix: string; migrate: boolean };
}

/**
 * A namespace of a test's own on the real stack: topics and subjects with a random suffix (`unique(prefix)`), and,
 * when asked, a PostgreSQL schema. The names and the config exist at once (for the spec's module scope); `setup`
 * makes the topics, registers the event schemas and grants the ACLs (and migrates the schema when asked);
 * `teardown` drops the schema, then the topics and subjects. The caller closes `it_`, which it may share.
 */
export function testNamespace(it_: ReturnType<typeof integration>, prefix: string, opts: NamespaceOptions) {
  const namespace = unique(prefix);
  const topics: Topics = topicsFor(namespace);
  const database = opts.database ? testDatabase(opts.database.prefix) : undefined;
  const schemas = loadEventSchemas();
  const deps = async () => ({ admin: await it_.admin(), registry: it_.registry, schemas });
  /** The stack's config pointed at this namespace (and at its schema, when it has one). */
  const cfg: Config = {
    ...it_.cfg,
    topics: { ...it_.cfg.topics, namespace },
    database: { ...it_.cfg.database, schema: database?.schema },
  };
  return {
    namespace,
    topics,
    cfg,
    database,
    async setup(): Promise<void> {
      await bootstrapNamespace(await deps(), topics, { partitions: opts.partitions, replicationFactor: 1 });
      if (opts.database?.migrate) await database!.setup();
    },
    /** With `ignoreDropErrors`, a failure to delete the topics or subjects is not the test's failure (the schema's still is). */
    async teardown(teardownOpts: { ignoreDropErrors?: boolean } = {}): Promise<void> {
      await database?.teardown();
      const dropped = dropNamespace(await deps(), topics);
      await (teardownOpts.ignoreDropErrors ? dropped.catch(() => undefined) : dropped);
    },
  };
}
