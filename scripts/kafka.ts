import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { toolsGroup } from '../lib/acls';
import { PRINCIPALS } from '../lib/kafka';
import { loadStackConfig } from './stack/config';
import { clientProperties } from './stack/kafka';
import { findJava } from './stack/java';

/**
 * `npm run kafka -- <tool> [args…]`: Kafka's own console tools, run from the jars the stack cached
 * (~/.cache/cloudphone-events/kafka-<version>/libs) with the machine's Java — what `bin/kafka-topics.sh` and its
 * siblings do, without a Kafka distribution. Arguments go to the tool untouched.
 */
const TOOLS: Record<string, { mainClass: string; configFlag: string }> = {
  'kafka-topics': { mainClass: 'org.apache.kafka.tools.TopicCommand', configFlag: '--command-config' },
  'kafka-console-consumer': { mainClass: 'org.apache.kafka.tools.consumer.ConsoleConsumer', configFlag: '--consumer.config' },
  'kafka-console-producer': { mainClass: 'kafka.tools.ConsoleProducer', configFlag: '--producer.config' },
  'kafka-consumer-groups': { mainClass: 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', configFlag: '--command-config' },
  'kafka-get-offsets': { mainClass: 'org.apache.kafka.tools.GetOffsetShell', configFlag: '--command-config' },
  'kafka-configs': { mainClass: 'kafka.admin.ConfigCommand', configFlag: '--command-config' },
  'kafka-acls': { mainClass: 'kafka.admin.AclCommand', configFlag: '--command-config' },
  'kafka-metadata-quorum': { mainClass: 'org.apache.kafka.tools.MetadataQuorumCommand', configFlag: '--command-config' },
};

new Command('kafka')
  .description("run one of Kafka's own console tools from the jars the local stack cached")
  .argument('<tool>', Object.keys(TOOLS).join(', '))
  .argument('[args...]', 'arguments for the tool (put them after --)')
  .option('--as <principal>', `whose Kafka credentials the tool uses: ${PRINCIPALS.join(', ')}`, 'tools')
  .allowUnknownOption()
  .passThroughOptions()
  .helpOption('-h, --help', 'this help (the tool’s own: npm run kafka -- <tool> --help)')
  .addHelpText(
    'after',
    `
Examples:
  npm run kafka -- kafka-topics --bootstrap-server 127.0.0.1:9092 --list
  npm run kafka -- --as admin kafka-acls --bootstrap-server 127.0.0.1:9092 --list --topic cloudphone.device.events
  npm run kafka -- kafka-topics --bootstrap-server 127.0.0.1:9092 --describe --topic cloudphone.device.events
  npm run kafka -- kafka-console-consumer --bootstrap-server 127.0.0.1:9092 --topic cloudphone.user.events \\
      --from-beginning --max-messages 2 --property print.key=true --property print.offset=true
  npm run kafka -- kafka-consumer-groups --bootstrap-server 127.0.0.1:9092 --describe --group cloudphone.projection.device

The tool authenticates as the principal of --as (default tools: reads every topic of the namespace, writes
nothing; admin may do anything) through a client properties file passed as the tool's own config flag. The
console consumer joins a group under <namespace>.tools. unless --group is given.`,
  )
  .action(async (tool: string, toolArgs: string[], opts: { as: string }) => {
    const spec = TOOLS[tool];
    if (!spec) throw new Error(`unknown tool "${tool}"; one of ${Object.keys(TOOLS).join(', ')}`);
    const principal = PRINCIPALS.find((p) => p === opts.as);
    if (!principal) throw new Error(`unknown principal "${opts.as}"; one of ${PRINCIPALS.join(', ')}`);
    const cfg = loadStackConfig();
    const args = [...toolArgs];
    if (!args.includes(spec.configFlag)) args.push(spec.configFlag, clientProperties(cfg, principal));
    if (tool === 'kafka-console-consumer' && !args.includes('--group'))
      args.push('--group', toolsGroup(cfg.platform.topics.namespace, 'console'));
    const libs = path.join(cfg.cacheDir, `kafka-${cfg.kafka.version}`, 'libs');
    if (!existsSync(libs)) throw new Error(`no Kafka jars in ${libs}: run npm run stack -- up once`);
    const java = await findJava(17, cfg.javaHome);
    if (!java) throw new Error('needs Java 17 or newer; none found (set JAVA_HOME)');
    // The tools log through log4j 1 (reload4j): warnings to stderr, as bin/kafka-run-class.sh configures them.
    mkdirSync(cfg.dir, { recursive: true });
    const log4j = path.join(cfg.dir, 'tools-log4j.properties');
    writeFileSync(
      log4j,
      'log4j.rootLogger=WARN, stderr\nlog4j.appender.stderr=org.apache.log4j.ConsoleAppender\nlog4j.appender.stderr.layout=org.apache.log4j.PatternLayout\nlog4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n\nlog4j.appender.stderr.Target=System.err\n',
    );
    const child = spawn(java.bin, ['-Xmx256m', `-Dlog4j.configuration=file:${log4j}`, '-cp', `${libs}/*`, spec.mainClass, ...args], {
      stdio: 'inherit',
    });
    process.on('SIGINT', () => child.kill('SIGINT'));
    child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
  })
  .parseAsync()
  .catch((err: unknown) => {
    console.error(`kafka: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
