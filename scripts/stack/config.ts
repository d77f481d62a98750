import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { clusterNodePorts, KAFKA_CLUSTER_PORT_DEFAULT, loadConfig, type Config } from '../../lib/config';

/** Settings of the local stack (versions, ports, folders), on top of the platform's own config. */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const port = int(1, 65535);

const schema = z.object({
  STACK_DIR: z.string().optional(),
  STACK_CACHE_DIR: z.string().optional(),
  KAFKA_VERSION: z
    .string()
    .regex(/^\d+\.\d+\.\d+$/)
    .default('3.9.1'),
  KAFKA_PORT: port.default(9092),
  KAFKA_CONTROLLER_PORT: port.default(9093),
  KAFKA_HEAP: z.string().default('1g'),
  STACK_BROKERS: z.enum(['1', '3']).default('1'),
  KAFKA_CLUSTER_PORT: int(1, 65_000).default(KAFKA_CLUSTER_PORT_DEFAULT),
  KAFKA_CLUSTER_HEAP: z.string().default('512m'),
  APICURIO_VERSION: z.string().min(1).default('3.3.3'),
  REGISTRY_PORT: port.default(8080),
  REGISTRY_MANAGEMENT_PORT: port.default(9000),
  REGISTRY_HEAP: z.string().default('512m'),
  REGISTRY_JAVA_HOME: z.string().optional(),
  JAVA_HOME: z.string().optional(),
  STACK_START_TIMEOUT_MS: int(1000, 600_000).default(120_000),
  STACK_EXTERNAL: z.enum(['true', 'false', '1', '0']).default('false'),
});

export interface StackConfig {
  root: string;
  dir: string;
  cacheDir: string;
  logsDir: string;
  /**
   * The single development broker (`port`, `controllerPort`, `heap`, in `<dir>/kafka`), or with `brokers` 3 a
   * KRaft cluster of three broker+controller nodes (`nodes`, in `<dir>/kafka-cluster/node-<id>`, `clusterHeap`
   * each). Both may run side by side: different folders and ports, the same credentials.
   */
  kafka: {
    version: string;
    port: number;
    controllerPort: number;
    heap: string;
    brokers: 1 | 3;
    nodes: ReadonlyArray<{ id: number; port: number; controllerPort: number }>;
    clusterHeap: string;
  };
  registry: { version: string; versionExplicit: boolean; port: number; managementPort: number; heap: string; javaHome?: string };
  javaHome?: string;
  startTimeoutMs: number;
  /** Kafka and the registry are run elsewhere (docker compose): the stack only checks them. */
  external: boolean;
  platform: Config;
}

export function loadStackConfig(env: NodeJS.ProcessEnv = process.env): StackConfig {
  const e = schema.parse(env);
  const root = path.resolve(__dirname, '..', '..');
  const dir = path.resolve(e.STACK_DIR ?? path.join(root, '.stack'));
  const cacheBase = env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return {
    root,
    dir,
    cacheDir: path.resolve(e.STACK_CACHE_DIR ?? path.join(cacheBase, 'cloudphone-events')),
    logsDir: path.join(dir, 'logs'),
    kafka: {
      version: e.KAFKA_VERSION,
      port: e.KAFKA_PORT,
      controllerPort: e.KAFKA_CONTROLLER_PORT,
      heap: e.KAFKA_HEAP,
      brokers: e.STACK_BROKERS === '3' ? 3 : 1,
      nodes: clusterNodePorts(e.KAFKA_CLUSTER_PORT, 3),
      clusterHeap: e.KAFKA_CLUSTER_HEAP,
    },
    registry: {
      version: e.APICURIO_VERSION,
      versionExplicit: env.APICURIO_VERSION !== undefined,
      port: e.REGISTRY_PORT,
      managementPort: e.REGISTRY_MANAGEMENT_PORT,
      heap: e.REGISTRY_HEAP,
      javaHome: e.REGISTRY_JAVA_HOME,
    },
    javaHome: e.JAVA_HOME,
    startTimeoutMs: e.STACK_START_TIMEOUT_MS,
    external: e.STACK_EXTERNAL === 'true' || e.STACK_EXTERNAL === '1',
    platform: loadConfig(env),
  };
}
