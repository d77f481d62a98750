import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel, type Admin, type SASLOptions } from 'kafkajs';
import { kafkaCredentials, PRINCIPALS, saslFor, usernameOf } from '../../lib/kafka';
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

/**
 * Apache Kafka as a single-node KRaft broker+controller, from the official jars on Maven Central.
 *
 * Authenticated: the client listener speaks SASL/SCRAM-SHA-512 only, with one principal per component
 * (lib/kafka.ts PRINCIPALS, passwords made once into `.stack/kafka/credentials.json`, mode 0600), added to the
 * storage when it is formatted (KRaft keeps SCRAM credentials in its metadata log). The StandardAuthorizer
 * refuses everything no ACL allows (bootstrap grants them per namespace, lib/acls.ts); `cloudphone-admin` is the
 * only super user. The controller listener (loopback, used by the node itself) takes SASL/PLAIN with the admin's
 * password: KRaft controllers cannot check SCRAM, whose credentials live in the log they serve. Passwords are
 * in server.properties (mode 0600), never in a process's arguments — except the one-off storage format, which
 * takes them only as arguments (`--add-scram`).
 */
export function kafkaBroker(cfg: StackConfig): Component {
  const { version, port, controllerPort, heap } = cfg.kafka;
  const home = path.join(cfg.dir, 'kafka');
  const dataDir = path.join(home, 'data');
  const libs = path.join(cfg.cacheDir, `kafka-${version}`, 'libs');
  const logFile = path.join(cfg.logsDir, 'kafka.log');
  const pidFile = path.join(home, 'kafka.pid');
  const marker = `-Dcloudphone.stack=${cfg.dir}`;
  const classpath = `${libs}/*`;

  const java = async () => {
    const found = await findJava(17, cfg.javaHome);
    if (!found) throw new StackError('kafka', 'needs Java 17 or newer; none found (set JAVA_HOME)');
    return found.bin;
  };

  const credentials = () => kafkaCredentials(cfg.platform.kafka.credentialsFile, { make: true });
  // Formatted with the principals' SCRAM credentials: storage formatted before authentication (no marker) is
  // formatted again — its topics are made again by bootstrap.
  const authMarker = path.join(home, 'storage-has-scram-users');

  const writeConfig = () => {
    const admin = { user: usernameOf('admin'), password: credentials().admin };
    writeFileSync(
      path.join(home, 'server.properties'),
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
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
        'auto.create.topics.enable=false',
        'offsets.topic.replication.factor=1',
        'offsets.topic.num.partitions=12',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
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

  return {
    name: 'kafka',
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
        console.log(`kafka     storage formatted before authentication: formatting ${dataDir} again (bootstrap makes the topics)`);
        rmSync(dataDir, { recursive: true, force: true });
      }
      const clusterId = randomBytes(16).toString('base64url');
      const passwords = credentials();
      const scram = PRINCIPALS.flatMap((p) => ['--add-scram', `SCRAM-SHA-512=[name=${usernameOf(p)},password=${passwords[p]}]`]);
      await run(await java(), [
        `-Dlog4j.configuration=file:${path.join(home, 'log4j.properties')}`,
        '-cp',
        classpath,
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId,
        '-c',
        path.join(home, 'server.properties'),
        ...scram,
      ]).catch((err: Error) => {
        throw new StackError('kafka', `formatting the KRaft storage failed: ${err.message.replace(/password=[^\]]+/g, 'password=***')}`, {
          port,
          logFile,
        });
      });
      writeFileSync(authMarker, `${new Date().toISOString()}\n`);
    },
    start: async () => {
      spawnDaemon({
        command: await java(),
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
    isHealthy: () => kafkaHealthy([`127.0.0.1:${port}`], saslFor(cfg.platform, 'admin')),
    auth: () => kafkaAuth([`127.0.0.1:${port}`]),
    stop: async () => {
      const pid = readPid(pidFile);
      if (pid !== undefined) await terminate(pid, 30_000);
      removeFile(pidFile);
    },
  };
}
