import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { run, StackError } from './processes';

const POM = path.join(__dirname, 'kafka.pom.xml');

/**
 * Makes `target` exist by filling a temporary sibling with `fill` and renaming it into place,
 * so an interrupted download never leaves a half-filled folder behind.
 */
export async function ensureDir(target: string, fill: (tmp: string) => Promise<void>): Promise<boolean> {
  if (existsSync(target)) return false;
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await fill(tmp);
    renameSync(tmp, target);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return true;
}

async function mvn(component: string, args: string[]): Promise<void> {
  try {
    await run('mvn', ['-B', '-q', '-f', POM, ...args]);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const out = `${e.stdout ?? ''}${e.stderr ?? ''}`
      .split('\n')
      .filter((l) => l.includes('ERROR'))
      .slice(0, 5);
    throw new StackError(component, `Maven could not fetch from Maven Central: ${out.join(' ') || e.message}`);
  }
}

/** org.apache.kafka:kafka_2.13 and kafka-tools with their runtime dependencies, into `libsDir`. */
export function fetchKafkaJars(version: string, libsDir: string): Promise<void> {
  return mvn('kafka', [
    `-Dkafka.version=${version}`,
    'dependency:copy-dependencies',
    '-DincludeScope=runtime',
    `-DoutputDirectory=${libsDir}`,
  ]);
}

/** One artifact (group:artifact:version:type:classifier) copied into `outDir`. */
export function fetchArtifact(component: string, coordinates: string, outDir: string): Promise<void> {
  return mvn(component, ['dependency:copy', `-Dartifact=${coordinates}`, `-DoutputDirectory=${outDir}`]);
}
