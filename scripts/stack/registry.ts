import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  REGISTRY_PRINCIPALS,
  registryAuthOf,
  registryCredentials,
  registryUsernameOf,
  type RegistryCredentials,
  type RegistryPrincipal,
} from '../../lib/registry';
import { externalComponent, type Component } from './component';
import type { StackConfig } from './config';
import { findJava } from './java';
import { ensureDir, fetchArtifact } from './maven';
import { makePgCredentials, pgRoleName } from '../../lib/db';
import { databaseNames } from './postgres';
import { readPid, removeFile, run, spawnDaemon, StackError, terminate } from './processes';

/** Apicurio Registry 3.3 is compiled for Java 21; 3.0.x runs on Java 17. */
const minJavaFor = (version: string) => (/^3\.[0-2]\./.test(version) || version.startsWith('2.') ? 17 : 21);
/** Used when APICURIO_VERSION is not set and the machine has no Java 21: the newest 3.x that runs on Java 17. */
const JAVA17_FALLBACK = '3.0.9';

/** Healthy when the Confluent-compatible API lists subjects (to the reader principal). */
async function registryHealthy(ccompatUrl: string, auth: { username: string; password: string } | undefined): Promise<boolean> {
  const headers: Record<string, string> = auth
    ? { Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` }
    : {};
  const res = await fetch(`${ccompatUrl}/subjects`, { headers, signal: AbortSignal.timeout(2000) });
  return res.ok;
}

/** Apicurio's role of each principal (lib/registry.ts). */
const ROLES: Record<RegistryPrincipal, string> = { admin: 'sr-admin', writer: 'sr-developer', reader: 'sr-readonly' };

/** Whether the registry lets an anonymous caller at its admin API (its configuration properties). */
async function registryAuth(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/apis/registry/v3/admin/config/properties`, { signal: AbortSignal.timeout(2000) });
  return res.status === 401 || res.status === 403
    ? `on (anonymous admin call: ${res.status})`
    : `OFF: anonymous admin call answered ${res.status}`;
}

/** A registry run elsewhere (SCHEMA_REGISTRY_URL with STACK_EXTERNAL=true). */
export function externalRegistry(cfg: StackConfig): Component {
  const url = new URL(cfg.platform.registry.url);
  return externalComponent({
    name: 'registry',
    port: Number(url.port || 80),
    describe: `SCHEMA_REGISTRY_URL ${url.origin}`,
    version: () => 'external',
    isHealthy: () => registryHealthy(cfg.platform.registry.url, registryAuthOf(cfg.platform, 'reader')),
    auth: () => registryAuth(url.origin),
  });
}

/**
 * Apicurio Registry from its Maven Central distribution (io.apicurio:apicurio-registry-app, the `all`
 * tar.gz), used through its Confluent-compatible API, storing its data in PostgreSQL.
 *
 * Authenticated without an identity provider: Quarkus' HTTP Basic against the embedded user list the app ships
 * (quarkus-elytron-security-properties-file), Apicurio's role-based authorization (sr-readonly reads, sr-developer
 * writes subjects, sr-admin changes the registry's configuration), no anonymous access. Passwords are stored as
 * Quarkus' digest (hex MD5 of `user:realm:password`) in `config/application.properties` under the registry's
 * folder (mode 0600, read by Quarkus from its working directory) — with the database password, so no secret is
 * in the process's arguments. The global compatibility rule is BACKWARD; deletion through the registry's own
 * API is off and the configuration cannot be changed at run time. The Confluent API still deletes a subject
 * for a writer (Apicurio does not apply the deletion switches to it): only bootstrap and the tests hold the
 * writer's password; the running platform reads.
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

  /** The registry's own role and database (lib/db.ts PG_ROLES); on an external server, DATABASE_URL's role. */
  const jdbc = () => {
    const url = new URL(cfg.platform.database.url);
    const own = cfg.platform.database.embedded ? makePgCredentials(cfg.platform.database.credentialsFile) : undefined;
    return {
      url: `jdbc:postgresql://${url.hostname}:${url.port || 5432}/${databaseNames(url.toString()).registry}`,
      user: own ? pgRoleName('registry') : decodeURIComponent(url.username) || 'postgres',
      password: own ? own.registry : decodeURIComponent(url.password),
    };
  };

  /** Everything but ports and heap, secrets included, in the file Quarkus reads from its working directory. */
  const writeProperties = () => {
    const db = jdbc();
    const file = path.join(home, 'config', 'application.properties');
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const passwords = registryCredentials(cfg.platform.registry.credentialsFile, { make: true }) as RegistryCredentials; // made whole
    const digest = (user: string, password: string) => createHash('md5').update(`${user}:Quarkus:${password}`).digest('hex');
    const users = REGISTRY_PRINCIPALS.flatMap((p) => {
      const user = registryUsernameOf(p);
      return [
        `quarkus.security.users.embedded.users.${user}=${digest(user, passwords[p])}`,
        `quarkus.security.users.embedded.roles.${user}=${ROLES[p]}`,
      ];
    });
    const lines = [
      'apicurio.storage.kind=sql',
      'apicurio.storage.sql.kind=postgresql',
      `apicurio.datasource.url=${db.url}`,
      `apicurio.datasource.username=${db.user}`,
      `apicurio.datasource.password=${db.password}`,
      'apicurio.datasource.jdbc.initial-size=2',
      'apicurio.datasource.jdbc.min-size=2',
      'apicurio.datasource.jdbc.max-size=20',
      // One subject per event type per topic: the default cap of 1000 subjects is too low for many namespaces.
      'apicurio.ccompat.max-subjects=100000',
      'apicurio.rules.global.compatibility=BACKWARD',
      'apicurio.rest.deletion.group.enabled=false',
      'apicurio.rest.deletion.artifact.enabled=false',
      'apicurio.rest.deletion.artifact-version.enabled=false',
      'apicurio.config.dynamic.allow-all=false',
      ...(cfg.platform.registry.auth === 'none'
        ? []
        : [
            'quarkus.oidc.tenant-enabled=false',
            'quarkus.http.auth.basic=true',
            'apicurio.auth.role-based-authorization=true',
            'apicurio.auth.anonymous-read-access.enabled=false',
            'quarkus.security.users.embedded.enabled=true',
            'quarkus.security.users.embedded.plain-text=false',
            'quarkus.security.users.embedded.algorithm=digest-md5',
            'quarkus.security.users.embedded.realm-name=Quarkus',
            ...users,
          ]),
      '',
    ];
    writeFileSync(file, lines.join('\n'), { mode: 0o600 });
    chmodSync(file, 0o600);
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
      writeProperties();
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
          '-jar',
          runnable(),
        ],
        logFile,
        pidFile,
        cwd: home,
      });
    },
    isHealthy: () => registryHealthy(`http://127.0.0.1:${port}/apis/ccompat/v7`, registryAuthOf(cfg.platform, 'reader')),
    auth: () => registryAuth(`http://127.0.0.1:${port}`),
    stop: async () => {
      const pid = readPid(pidFile);
      if (pid !== undefined) await terminate(pid, 30_000);
      removeFile(pidFile);
    },
  };
}
