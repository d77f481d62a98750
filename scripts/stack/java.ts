import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { run } from './processes';

/** The major version of a `java` binary, read from `java -version`. */
export async function javaMajor(javaBin: string): Promise<number | undefined> {
  const out = await run(javaBin, ['-version']).catch(() => undefined);
  const m = out ? /version "(\d+)(?:\.(\d+))?/.exec(out.stderr + out.stdout) : null;
  if (!m) return undefined;
  return m[1] === '1' ? Number(m[2]) : Number(m[1]);
}

/**
 * Finds a java binary of at least `minMajor`: the given JAVA_HOME first, then the `java` on PATH,
 * then every JDK under /usr/lib/jvm (newest first).
 */
export async function findJava(minMajor: number, preferredHome?: string): Promise<{ bin: string; major: number } | undefined> {
  const candidates: string[] = [];
  if (preferredHome) candidates.push(path.join(preferredHome, 'bin', 'java'));
  candidates.push('java');
  const jvmDir = '/usr/lib/jvm';
  if (existsSync(jvmDir)) {
    for (const d of readdirSync(jvmDir).sort().reverse()) {
      const bin = path.join(jvmDir, d, 'bin', 'java');
      if (existsSync(bin)) candidates.push(bin);
    }
  }
  for (const bin of candidates) {
    const major = await javaMajor(bin);
    if (major !== undefined && major >= minMajor) return { bin, major };
  }
  return undefined;
}
