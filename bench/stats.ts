import { randomUUID } from 'node:crypto';
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildMessage } from './command-side-child';
import type { Latency } from './results';

/** p50 and p99 (nearest rank) of a sample, in the sample's unit. */
export function percentiles(sample: number[]): Latency {
  const s = [...sample].sort((a, b) => a - b);
  const at = (p: number) => (s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!);
  return { p50: at(50), p99: at(99), count: s.length };
}

export const rate = (count: number, seconds: number) => ({ count, seconds, perSecond: seconds > 0 ? count / seconds : 0 });

export const seconds = (fromMs: number) => (performance.now() - fromMs) / 1000;

/** A line of a bench's progress, after the time of day. */
export const log = (msg: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

/**
 * Runs a bench script in a child process through tsx (its own event loop, its own RSS), hands it `args`, and
 * resolves with the last message it sent; `onMessage` sees every message (progress).
 */
export function child<T>(
  script: string,
  args: string[],
  opts: { onMessage?: (m: unknown) => void; execArgv?: string[] } = {},
): { done: Promise<T>; stop: () => void; pid: number | undefined } {
  const cp = fork(path.join(__dirname, script), args, {
    execArgv: ['--import', 'tsx', ...(opts.execArgv ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let last: T | undefined;
  const done = new Promise<T>((resolve, reject) => {
    cp.on('message', (m) => {
      if (m === 'bye') return;
      last = m as T;
      opts.onMessage?.(m);
    });
    cp.on('exit', (code) => {
      if (last !== undefined) resolve(last);
      else reject(new Error(`${script} exited with ${code} before reporting`));
    });
    cp.on('error', reject);
  });
  return { done, pid: cp.pid, stop: () => (cp.connected ? cp.send('stop') : undefined) };
}

/** Runs the load generator (bench/load.ts) with a spec. */
export function runLoad<T>(spec: unknown): Promise<T> {
  const file = path.join(os.tmpdir(), `bench-load-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(spec));
  return child<T>('load.ts', [file]).done;
}

/**
 * A user with `count` devices, created through the command API at `url` as the tenant admin whose headers are
 * given (20 at a time): the aggregates the command and visibility loads rename.
 */
export async function userWithDevices(url: string, headers: Record<string, string>, count: number): Promise<string[]> {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { id: string }).id;
  };
  const tag = randomUUID().slice(0, 8);
  const userId = await post('/users', { username: `bench-${tag}`, email: `bench-${tag}@example.com` });
  const spec = { cpuCores: 2, memoryMb: 4096, storageGb: 32, androidVersion: '13' };
  const create = () => post('/devices', { userId, name: 'd', spec, tier: 'basic', region: 'cn-east' });
  const deviceIds: string[] = [];
  while (deviceIds.length < count) {
    const n = Math.min(20, count - deviceIds.length);
    deviceIds.push(...(await Promise.all(Array.from({ length: n }, create))));
  }
  return deviceIds;
}

/**
 * The command side alone (bench/command-side-child.ts) in a child process with `env` added, on a namespace, until
 * `stop`. `checkout` runs another checkout's child (bench/pii-cost.ts compares two commits): its own code, with
 * the tsx of its own node_modules.
 */
export function commandSideChild(
  namespace: string,
  env: Record<string, string>,
  checkout = path.join(__dirname, '..'),
): Promise<{ url: string; stop: () => Promise<void> }> {
  const cp = fork(path.join(checkout, 'bench', 'command-side-child.ts'), [namespace, `bench-${randomUUID().slice(0, 6)}`], {
    cwd: checkout,
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => cp.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    cp.on('message', (m: ChildMessage) => {
      if (m.kind === 'failed') reject(new Error(m.error));
      if (m.kind === 'listening')
        resolve({
          url: m.url,
          stop: async () => {
            cp.kill('SIGTERM');
            await exited;
          },
        });
    });
    cp.once('exit', (code) => reject(new Error(`the command side exited with ${code}`)));
  });
}
