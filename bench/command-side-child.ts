import { loadConfig, type Config } from '../lib/config';
import { createLogger } from '../lib/logger';
import { startTracing } from '../lib/tracing';
import { startCommandSide, type CommandSide } from '../platform/commands';

/**
 * The command side alone — `startCommandSide` (platform/commands.ts: the six single writers, the command bus,
 * the reservation-release policy and the command API on a free port) — in a process of its own, so that its RSS
 * and its start-up are its own: bench/command-restore.ts starts one, then another, then two at once on a seeded
 * namespace. It talks to the parent over IPC:
 *  - sends `boot` once its modules are loaded and `listening` once the API listens (uptime since process start);
 *  - answers `state` with `writers()` taken after `whenReady()`, and whether every partition of the current
 *    assignments is restored at that moment (a rebalance may have started another restore meanwhile);
 *  - answers `memory` with `process.memoryUsage()`, after a full GC when run with --expose-gc.
 * SIGTERM (or the parent going away) stops it cleanly: it leaves its consumer groups, so the next instance is
 * assigned the partitions at once.
 *
 * argv: <namespace> <instance id>
 */
export type Writers = ReturnType<CommandSide['writers']>;

export type ChildMessage =
  | { kind: 'boot'; uptimeMs: number }
  | { kind: 'listening'; url: string; uptimeMs: number }
  | { kind: 'state'; id: number; ready: boolean; writers: Writers }
  | { kind: 'memory'; id: number; rss: number; heapUsed: number }
  | { kind: 'failed'; error: string };

export type ParentMessage = { kind: 'state' | 'memory'; id: number };

const send = (m: ChildMessage) => new Promise<void>((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));

/** True when `p` is already settled with success (its continuations run before the next macrotask). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => undefined,
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

async function main(): Promise<void> {
  const [namespace, instanceId] = process.argv.slice(2) as [string, string];
  await send({ kind: 'boot', uptimeMs: performance.now() });
  const base = loadConfig();
  const cfg: Config = { ...base, topics: { ...base.topics, namespace } };
  const logger = createLogger('fatal', 'bench-command-side');
  // Off unless TRACING says otherwise (bench/tracing-overhead.ts compares both).
  const tracing = startTracing(cfg.tracing, 'bench-command-side');

  let stopping = false;
  const starting = startCommandSide(cfg, { logger, port: 0, instanceId });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 20_000).unref();
    starting
      .then((side) => side.stop())
      .then(() => tracing.shutdown())
      .catch(() => undefined)
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);

  const side = await starting;
  process.on('message', (raw) => {
    const m = raw as ParentMessage;
    if (m.kind === 'state') {
      void side
        .whenReady()
        .catch(() => undefined)
        .then(async () => {
          const ready = await settled(side.whenReady());
          await send({ kind: 'state', id: m.id, ready, writers: side.writers() });
        });
    } else if (m.kind === 'memory') {
      (globalThis as { gc?: () => void }).gc?.();
      const { rss, heapUsed } = process.memoryUsage();
      void send({ kind: 'memory', id: m.id, rss, heapUsed });
    }
  });
  await send({ kind: 'listening', url: side.url, uptimeMs: performance.now() });
}

main().catch(async (err: unknown) => {
  console.error(err);
  await send({ kind: 'failed', error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
