import path from 'node:path';
import { build } from 'esbuild';

/** The client's entry point: plain TypeScript DOM modules (web/), bundled into one script. */
const ENTRY = path.join(__dirname, 'web', 'main.ts');

let bundled: Promise<string> | undefined;

/**
 * The console's script, bundled with esbuild on the first request for it and kept in memory for the life of the
 * process (about 50 ms, once): no build step, no artefact that can go stale beside the source, and a platform
 * that never serves the console never runs esbuild. A failed build is not cached (the next request tries again).
 */
export function consoleScript(): Promise<string> {
  bundled ??= build({
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  }).then((r) => r.outputFiles[0]!.text);
  bundled.catch(() => (bundled = undefined));
  return bundled;
}
