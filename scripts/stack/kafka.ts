import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { externalComponent, type Component } from './component';
import type { StackConfig } from './config';
import { findJava } from './java';
import { ensureDir, fetchKafkaJars } from './maven';
import { readPid, removeFile, run, spawnDaemon, StackError, terminate } from './processes';

/** Healthy when the cluster answers with at least one broker and an active controller. */
async function kafkaHealthy(brokers: string[]): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'stack-health',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Kafka run elsewhere (KAFKA_BROKERS with STACK_EXTERNAL=true). */
export function externalKafka(cfg: StackConfig): Component {
  const brokers = cfg.platform.kafka.brokers;
  return externalComponent({
    name: 'kafka',
    port: Number(brokers[0]?.split(':')[1] ?? 9092),
    describe: `KAFKA_BROKERS ${brokers.join(',')}`,
    version: () => 'external',
    isHealthy: () => kafkaHealthy(brokers),
  });
}

/** Apache Kafka as a single-node KRaft broker+controller, from the official jars on Maven Central. */
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

  const writeConfig = () => {
    writeFileSync(
      path.join(home, 'server.properties'),
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
        `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=PLAINTEXT',
        'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
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
    );
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
      if (existsSync(path.join(dataDir, 'meta.properties'))) return;
      const clusterId = randomBytes(16).toString('base64url');
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
      ]).catch((err: Error) => {
        throw new StackError('kafka', `formatting the KRaft storage failed: ${err.message}`, { port, logFile });
      });
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
    isHealthy: () => kafkaHealthy([`127.0.0.1:${port}`]),
    stop: async () => {
      const pid = readPid(pidFile);
      if (pid !== undefined) await terminate(pid, 30_000);
      removeFile(pidFile);
    },
  };
}
