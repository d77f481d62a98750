import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel, type Admin, type SASLOptions } from 'kafkajs';
import { kafkaCredentials, PRINCIPALS, saslFor, usernameOf, type Principal } from '../../lib/kafka';
import { externalComponent, type Component } from './component';
import type { StackConfig } from './config';
import { findJava } from './java';
import { ensureDir, fetchKafkaJars } from './maven';
import { readPid, removeFile, run, spawnDaemon, StackError, terminate } from './processes';

/** A one-shot admin client of the stack's probes: no retries, a short connection timeout, always disconnected. */
async function probe<T>(brokers: string[], sasl: SASLOptions | undefined, ask: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({
    clientId: 'stack-probe',
    brokers,
    sasl,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    return await ask(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Healthy when the cluster answers (to the admin principal) with at least one broker and an active controller. */
const kafkaHealthy = (brokers: string[], sasl: SASLOptions | undefined) =>
  probe(brokers, sasl, async (admin) => {
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null;
  });

/** Whether the cluster lets a client without credentials in: it is asked for its topics. */
const kafkaAuth = (brokers: string[]) =>
  probe(brokers, undefined, (admin) => admin.listTopics()).then(
    () => 'OFF: a client without credentials was let in',
    () => 'SASL/SCRAM-SHA-512 + ACLs (a client without credentials is refused)',
  );

/** Kafka run elsewhere (KAFKA_BROKERS with STACK_EXTERNAL=true). */
export function externalKafka(cfg: StackConfig): Component {
  const brokers = cfg.platform.kafka.brokers;
  return externalComponent({
    name: 'kafka',
    port: Number(brokers[0]?.split(':')[1] ?? 9092),
    describe: `KAFKA_BROKERS ${brokers.join(',')}`,
    version: () => 'external',
    isHealthy: () => kafkaHealthy(brokers, saslFor(cfg.platform, 'admin')),
    auth: () => kafkaAuth(brokers),
  });
}

/** One KRaft node of the local stack: its id, ports, folder, heap and log. */
export interface KafkaNodeSpec {
  readonly id: number;
  /** `kafka` for the single broker, `kafka-<id>` for a node of the cluster. */
  readonly name: string;
  readonly port: number;
  readonly controllerPort: number;
  readonly home: string;
  readonly heap: string;
  readonly logFile: string;
}

export type KafkaLayout = 'single' | 'cluster';

/** The nodes of the single broker or of the three-node cluster (scripts/stack/config.ts). */
export function kafkaNodes(cfg: StackConfig, layout: KafkaLayout = cfg.kafka.brokers === 3 ? 'cluster' : 'single'): KafkaNodeSpec[] {
  if (layout === 'single') {
    const { port, controllerPort, heap } = cfg.kafka;
    return [
      { id: 1, name: 'kafka', port, controllerPort, heap, home: path.join(cfg.dir, 'kafka'), logFile: path.join(cfg.logsDir, 'kafka.log') },
    ];
  }
  return cfg.kafka.nodes.map((n) => ({
    ...n,
    name: `kafka-${n.id}`,
    heap: cfg.kafka.clusterHeap,
    home: path.join(cfg.dir, 'kafka-cluster', `node-${n.id}`),
    logFile: path.join(cfg.logsDir, `kafka-${n.id}.log`),
  }));
}

/** The client addresses of a set of nodes. */
export const bootstrapServers = (nodes: readonly KafkaNodeSpec[]) => nodes.map((n) => `127.0.0.1:${n.port}`);

/**
 * The client properties of a principal (SASL/SCRAM-SHA-512) for Kafka's own Java tools, written into the stack
 * folder with mode 0600: the password is in the file, not in the tool's arguments.
 */
export function clientProperties(cfg: StackConfig, principal: Principal): string {
  const file = path.join(cfg.dir, 'kafka', `client-${principal}.properties`);
  mkdirSync(path.dirname(file), { recursive: true });
  const sasl = saslFor(cfg.platform, principal);
  const lines = sasl
    ? [
        'security.protocol=SASL_PLAINTEXT',
        'sasl.mechanism=SCRAM-SHA-512',
        `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${sasl.username}" password="${sasl.password}";`,
      ]
    : [];
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

const kafkaJava = async (cfg: StackConfig) => {
  const found = await findJava(17, cfg.javaHome);
  if (!found) throw new StackError('kafka', 'needs Java 17 or newer; none found (set JAVA_HOME)');
  return found.bin;
};

const kafkaLibs = (cfg: StackConfig) => path.join(cfg.cacheDir, `kafka-${cfg.kafka.version}`, 'libs');

/**
 * The KRaft quorum as the cluster reports it (DescribeQuorum, through Kafka's own MetadataQuorumCommand on any node
 * that answers): the active controller's node id, and each voter's lag behind it.
 */
export async function describeQuorum(
  cfg: StackConfig,
  nodes: readonly KafkaNodeSpec[],
): Promise<{ leaderId: number; voters: Array<{ id: number; lag: number }> }> {
  const log4j = path.join(cfg.dir, 'kafka', 'tools-quiet-log4j.properties');
  writeFileSync(
    log4j,
    'log4j.rootLogger=ERROR, stderr\nlog4j.appender.stderr=org.apache.log4j.ConsoleAppender\nlog4j.appender.stderr.layout=org.apache.log4j.PatternLayout\nlog4j.appender.stderr.Target=System.err\n',
  );
  const { stdout } = await run(await kafkaJava(cfg), [
    '-Xmx128m',
    `-Dlog4j.configuration=file:${log4j}`,
    '-cp',
    `${kafkaLibs(cfg)}/*`,
    'org.apache.kafka.tools.MetadataQuorumCommand',
    '--bootstrap-server',
    bootstrapServers(nodes).join(','),
    '--command-config',
    clientProperties(cfg, 'admin'),
    'describe',
    '--replication',
  ]);
  // NodeId  DirectoryId  LogEndOffset  Lag  LastFetchTimestamp  LastCaughtUpTimestamp  Status
  const voters = stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => /^\d+$/.test(cols[0] ?? '') && /Leader|Follower/.test(cols[cols.length - 1] ?? ''))
    .map((cols) => ({ id: Number(cols[0]), lag: Number(cols[3]), status: cols[cols.length - 1]! }));
  const leader = voters.find((v) => v.status === 'Leader');
  if (!leader) throw new StackError('kafka', `no active controller in the quorum's description:\n${stdout}`);
  return { leaderId: leader.id, voters: voters.map(({ id, lag }) => ({ id, lag })) };
}

/**
 * Per node of a cluster: its KRaft role (active controller or follower), the partitions it leads, and the
 * under-replicated and offline partitions it hosts (the topics' metadata, as the admin principal sees it).
 */
export async function describeNodes(cfg: StackConfig, nodes: readonly KafkaNodeSpec[]): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const quorum = await describeQuorum(cfg, nodes).catch(() => undefined);
  const meta = await probe(bootstrapServers(nodes), saslFor(cfg.platform, 'admin'), async (admin) =>
    admin.fetchTopicMetadata({ topics: await admin.listTopics() }),
  ).catch(() => undefined);
  const partitions = meta?.topics.flatMap((t) => t.partitions) ?? [];
  for (const n of nodes) {
    const role = quorum ? (quorum.leaderId === n.id ? 'active controller' : 'controller follower') : 'role unknown';
    const hosted = partitions.filter((p) => p.replicas.includes(n.id));
    const leads = partitions.filter((p) => p.leader === n.id).length;
    const under = hosted.filter((p) => p.isr.length < p.replicas.length).length;
    const offline = hosted.filter((p) => p.leader < 0).length;
    out.set(n.id, meta ? `${role}; leads ${leads}/${partitions.length}; under-replicated ${under}; offline ${offline}` : role);
  }
  return out;
}

/**
 * Apache Kafka in KRaft mode from the official jars on Maven Central: one node of the single development broker
 * or of the three-node cluster, each a combined broker+controller.
 *
 * Authenticated: the client listener speaks SASL/SCRAM-SHA-512 only, with one principal per component
 * (lib/kafka.ts PRINCIPALS, passwords made once into `.stack/kafka/credentials.json`, mode 0600), added to the
 * storage when it is formatted (KRaft keeps SCRAM credentials in its metadata log; every node of a cluster is
 * formatted with them, the active controller writes them once). Brokers replicate from each other over the same
 * SCRAM listener as the admin principal. The StandardAuthorizer refuses everything no ACL allows (bootstrap grants
 * them per namespace, lib/acls.ts); `cloudphone-admin` is the only super user. The controller listener (loopback)
 * takes SASL/PLAIN with the admin's password: KRaft controllers cannot check SCRAM, whose credentials live in the
 * log they serve. Passwords are in server.properties (mode 0600), never in a process's arguments — except the
 * one-off storage format, which takes them only as arguments (`--add-scram`).
 *
 * In a cluster every topic Kafka makes itself (`__consumer_offsets`, `__transaction_state`) and by default has
 * three replicas, takes acks=all writes only with two in sync, and never elects a leader that was out of sync.
 */
export function kafkaBroker(cfg: StackConfig, node: KafkaNodeSpec, all: readonly KafkaNodeSpec[]): Component {
  const { version } = cfg.kafka;
  const { id, port, controllerPort, heap, home, logFile } = node;
  const cluster = all.length > 1;
  const replicas = Math.min(3, all.length);
  const minIsr = replicas >= 3 ? replicas - 1 : 1;
  const dataDir = path.join(home, 'data');
  const libs = kafkaLibs(cfg);
  const pidFile = path.join(home, 'kafka.pid');
  const marker = `-Dcloudphone.stack=${cfg.dir}`;
  const classpath = `${libs}/*`;
  const credentials = () => kafkaCredentials(cfg.platform.kafka.credentialsFile, { make: true });
  // Formatted with the principals' SCRAM credentials: storage formatted before authentication (no marker) is
  // formatted again — its topics are made again by bootstrap.
  const authMarker = path.join(home, 'storage-has-scram-users');
  // One cluster id for every node of the cluster, made once (a node whose storage is gone is formatted with it).
  const clusterId = () => {
    if (!cluster) return randomBytes(16).toString('base64url');
    const file = path.join(path.dirname(home), 'cluster-id');
    if (!existsSync(file)) writeFileSync(file, `${randomBytes(16).toString('base64url')}\n`);
    return readFileSync(file, 'utf8').trim();
  };

  const writeConfig = () => {
    const admin = { user: usernameOf('admin'), password: credentials().admin };
    writeFileSync(
      path.join(home, 'server.properties'),
      [
        'process.roles=broker,controller',
        `node.id=${id}`,
        `controller.quorum.voters=${all.map((n) => `${n.id}@127.0.0.1:${n.controllerPort}`).join(',')}`,
        `listeners=SASL_PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
        `advertised.listeners=SASL_PLAINTEXT://127.0.0.1:${port}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=SASL_PLAINTEXT',
        'listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT',
        'sasl.enabled.mechanisms=SCRAM-SHA-512',
        'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
        `listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${admin.user}" password="${admin.password}";`,
        'sasl.mechanism.controller.protocol=PLAIN',
        'listener.name.controller.sasl.enabled.mechanisms=PLAIN',
        `listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="${admin.user}" password="${admin.password}" user_${admin.user}="${admin.password}";`,
        'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
        `super.users=User:${admin.user}`,
        'allow.everyone.if.no.acl.found=false',
        `log.dirs=${dataDir}`,
        `num.partitions=${cfg.platform.topics.partitions}`,
        `default.replication.factor=${replicas}`,
        `min.insync.replicas=${minIsr}`,
        'unclean.leader.election.enable=false',
        'auto.create.topics.enable=false',
        `offsets.topic.replication.factor=${replicas}`,
        'offsets.topic.num.partitions=12',
        `transaction.state.log.replication.factor=${replicas}`,
        `transaction.state.log.min.isr=${minIsr}`,
        'transaction.state.log.num.partitions=12',
        'group.initial.rebalance.delay.ms=0',
        'delete.topic.enable=true',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    chmodSync(path.join(home, 'server.properties'), 0o600); // a file written before keeps its mode otherwise
    writeFileSync(
      path.join(home, 'log4j.properties'),
      [
        'log4j.rootLogger=INFO, stdout',
        'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
        'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
        'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
        'log4j.logger.kafka=INFO',
        'log4j.logger.org.apache.kafka=INFO',
        'log4j.logger.kafka.request.logger=WARN',
        'log4j.logger.state.change.logger=WARN',
        '',
      ].join('\n'),
    );
  };

  const sasl = () => saslFor(cfg.platform, 'admin');
  return {
    name: node.name,
    port,
    logFile,
    marker,
    external: false,
    version: () => version,
    ownPid: () => readPid(pidFile),
    prepare: async () => {
      await ensureDir(libs, (tmp) => fetchKafkaJars(version, tmp));
      mkdirSync(home, { recursive: true });
      writeConfig();
      if (existsSync(path.join(dataDir, 'meta.properties'))) {
        if (existsSync(authMarker)) return;
        console.log(
          `${node.name.padEnd(9)} storage formatted before authentication: formatting ${dataDir} again (bootstrap makes the topics)`,
        );
        rmSync(dataDir, { recursive: true, force: true });
      }
      const passwords = credentials();
      const scram = PRINCIPALS.flatMap((p) => ['--add-scram', `SCRAM-SHA-512=[name=${usernameOf(p)},password=${passwords[p]}]`]);
      await run(await kafkaJava(cfg), [
        `-Dlog4j.configuration=file:${path.join(home, 'log4j.properties')}`,
        '-cp',
        classpath,
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId(),
        '-c',
        path.join(home, 'server.properties'),
        ...scram,
      ]).catch((err: Error) => {
        throw new StackError(node.name, `formatting the KRaft storage failed: ${err.message.replace(/password=[^\]]+/g, 'password=***')}`, {
          port,
          logFile,
        });
      });
      writeFileSync(authMarker, `${new Date().toISOString()}\n`);
    },
    start: async () => {
      spawnDaemon({
        command: await kafkaJava(cfg),
        args: [
          `-Xms256m`,
          `-Xmx${heap}`,
          '-XX:+UseG1GC',
          '-Djava.awt.headless=true',
          marker,
          `-Dlog4j.configuration=file:${path.join(home, 'log4j.properties')}`,
          '-cp',
          classpath,
          'kafka.Kafka',
          path.join(home, 'server.properties'),
        ],
        logFile,
        pidFile,
      });
    },
    // Healthy when this node answers and is one of the cluster's registered brokers (a restarted node of a
    // cluster is back only once it has rejoined).
    isHealthy: () =>
      probe([`127.0.0.1:${port}`], sasl(), async (admin) => {
        const c = await admin.describeCluster();
        return c.controller !== null && c.brokers.some((b) => b.nodeId === id);
      }),
    auth: () => kafkaAuth([`127.0.0.1:${port}`]),
    stop: async () => {
      const pid = readPid(pidFile);
      if (pid !== undefined) await terminate(pid, 30_000);
      removeFile(pidFile);
    },
  };
}

/**
 * Whether every node, asked itself, lists all the nodes as unfenced brokers with an active controller. A node
 * answers before the controller has registered it, and a node slow to heartbeat in its first seconds (three JVMs
 * starting on two cores) is fenced again for a while: each node's own metadata can differ from its neighbours'.
 */
export async function clusterSettled(cfg: StackConfig, nodes: readonly KafkaNodeSpec[]): Promise<boolean> {
  const ids = nodes.map((n) => n.id).sort();
  const views = await Promise.all(
    nodes.map((n) =>
      probe([`127.0.0.1:${n.port}`], saslFor(cfg.platform, 'admin'), async (admin) => {
        const c = await admin.describeCluster();
        return (
          c.controller !== null &&
          c.brokers
            .map((b) => b.nodeId)
            .sort()
            .join() === ids.join()
        );
      }).catch(() => false),
    ),
  );
  return views.every(Boolean);
}

/** The Kafka components of a layout: the single broker, or the three nodes of the cluster. */
export const kafkaBrokers = (cfg: StackConfig, layout?: KafkaLayout): Component[] => {
  const nodes = kafkaNodes(cfg, layout);
  return nodes.map((n) => kafkaBroker(cfg, n, nodes));
};
