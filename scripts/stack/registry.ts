import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { externalComponent, type Component } from './component';
import type { StackConfig } from './config';
import { findJava } from './java';
import { ensureDir, fetchArtifact } from './maven';
import { databaseNames } from './postgres';
import { readPid, removeFile, run, spawnDaemon, StackError, terminate } from './processes';

/** Apicurio Registry 3.3 is compiled for Java 21; 3.0.x runs on Java 17. */
const minJavaFor = (version: string) => (/^3\.[0-2]\./.test(version) || version.startsWith('2.') ? 17 : 21);
/** Used when APICURIO_VERSION is not set and the machine has no Java 21: the newest 3.x that runs on Java 17. */
const JAVA17_FALLBACK = '3.0.9';

/** Healthy when the Confluent-compatible API lists subjects. */
async function registryHealthy(ccompatUrl: string): Promise<boolean> {
  const res = await fetch(`${ccompatUrl}/subjects`, { signal: AbortSignal.timeout(2000) });
  return res.ok;
}

/** A registry run elsewhere (SCHEMA_REGISTRY_URL with STACK_EXTERNAL=true). */
export function externalRegistry(cfg: StackConfig): Component {
  const url = new URL(cfg.platform.registry.url);
  return externalComponent({
    name: 'registry',
    port: Number(url.port || 80),
    describe: `SCHEMA_REGISTRY_URL ${url.origin}`,
    version: () => 'external',
    isHealthy: () => registryHealthy(cfg.platform.registry.url),
  });
}

/**
 * Apicurio Registry from its Maven Central distribution (io.apicurio:apicurio-registry-app, the `all`
 * tar.gz), used through its Confluent-compatible API, storing its data in PostgreSQL.
 */
export function apicurioRegistry(cfg: StackConfig): Component {
  const { port, managementPort, heap } = cfg.registry;
  let version = cfg.registry.version;
  const home = path.join(cfg.dir, 'registry');
  const dist = () => path.join(cfg.cacheDir, `apicurio-registry-${version}`);
  const logFile = path.join(cfg.logsDir, 'registry.log');
  const pidFile = path.join(home, 'registry.pid');
  const marker = `-Dcloudphone.stack=${cfg.dir}`;
  let javaBin: string | undefined;

  /** Picks the java to run the registry with; falls back to a Java 17 build when none is new enough. */
  const chooseJava = async (log: (line: string) => void): Promise<string> => {
    const home = cfg.registry.javaHome ?? cfg.javaHome;
    let java = await findJava(minJavaFor(version), home);
    if (!java && !cfg.registry.versionExplicit) {
      log(`registry: no Java ${minJavaFor(version)}+ on this machine; using Apicurio Registry ${JAVA17_FALLBACK}, which runs on Java 17`);
      version = JAVA17_FALLBACK;
      java = await findJava(minJavaFor(version), home);
    }
    if (!java) {
      throw new StackError(
        'registry',
        `Apicurio Registry ${version} needs Java ${minJavaFor(version)}+; none found in JAVA_HOME, PATH or /usr/lib/jvm ` +
          `(set REGISTRY_JAVA_HOME, or APICURIO_VERSION=${JAVA17_FALLBACK} which runs on Java 17)`,
        { port },
      );
    }
    javaBin = java.bin;
    return java.bin;
  };

  const runnable = () => {
    if (existsSync(path.join(dist(), 'quarkus-run.jar'))) return path.join(dist(), 'quarkus-run.jar');
    const runner = readdirSync(dist()).find((f) => f.endsWith('-runner.jar'));
    if (!runner) throw new StackError('registry', `no quarkus-run.jar or *-runner.jar in ${dist()}`);
    return path.join(dist(), runner);
  };

  const jdbc = () => {
    const url = new URL(cfg.platform.database.url);
    return {
      url: `jdbc:postgresql://${url.hostname}:${url.port || 5432}/${databaseNames(url.toString()).registry}`,
      user: decodeURIComponent(url.username) || 'postgres',
      password: decodeURIComponent(url.password),
    };
  };

  return {
    name: 'registry',
    port,
    logFile,
    marker,
    external: false,
    version: () => `Apicurio Registry ${version}`,
    ownPid: () => readPid(pidFile),
    prepare: async () => {
      mkdirSync(home, { recursive: true });
      await chooseJava((line) => console.warn(line));
      await ensureDir(dist(), async (tmp) => {
        const coords = `io.apicurio:apicurio-registry-app:${version}:tar.gz:all`;
        await fetchArtifact('registry', coords, tmp);
        const archive = readdirSync(tmp).find((f) => f.endsWith('.tar.gz'));
        if (!archive) throw new StackError('registry', `Maven fetched no archive for ${coords}`);
        await run('tar', ['xzf', path.join(tmp, archive), '-C', tmp]);
        removeFile(path.join(tmp, archive));
      });
    },
    start: async () => {
      const bin = javaBin ?? (await chooseJava((line) => console.warn(line)));
      const db = jdbc();
      spawnDaemon({
        command: bin,
        args: [
          `-Xms128m`,
          `-Xmx${heap}`,
          marker,
          `-Dquarkus.http.host=127.0.0.1`,
          `-Dquarkus.http.port=${port}`,
          `-Dquarkus.management.host=127.0.0.1`,
          `-Dquarkus.management.port=${managementPort}`,
          '-Dapicurio.storage.kind=sql',
          '-Dapicurio.storage.sql.kind=postgresql',
          `-Dapicurio.datasource.url=${db.url}`,
          `-Dapicurio.datasource.username=${db.user}`,
          `-Dapicurio.datasource.password=${db.password}`,
          '-Dapicurio.datasource.jdbc.initial-size=2',
          '-Dapicurio.datasource.jdbc.min-size=2',
          '-Dapicurio.datasource.jdbc.max-size=20',
          // One subject per event type per topic: the default cap of 1000 subjects is too low for many namespaces.
          '-Dapicurio.ccompat.max-subjects=100000',
          '-Dapicurio.rest.deletion.artifact.enabled=true',
          '-Dapicurio.rest.deletion.artifact-version.enabled=true',
          '-Dapicurio.rest.deletion.group.enabled=true',
          '-jar',
          runnable(),
        ],
        logFile,
        pidFile,
        cwd: home,
      });
    },
    isHealthy: () => registryHealthy(`http://127.0.0.1:${port}/apis/ccompat/v7`),
    stop: async () => {
      const pid = readPid(pidFile);
      if (pid !== undefined) await terminate(pid, 30_000);
      removeFile(pidFile);
    },
  };
}
