import { spawn, execFile } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import { waitUntil } from '../../lib/wait';

const execFileP = promisify(execFile);

/** Thrown when a stack component cannot be brought up or down; names the component, its port and its log. */
export class StackError extends Error {
  constructor(component: string, message: string, details?: { port?: number; logFile?: string }) {
    const where = [
      details?.port !== undefined ? `port ${details.port}` : undefined,
      details?.logFile ? `log: ${details.logFile}` : undefined,
    ].filter(Boolean);
    super(`${component}: ${message}${where.length ? ` (${where.join(', ')})` : ''}`);
  }
}

export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}

/** The pid listening on a TCP port, read from `ss`. */
export async function portOwner(port: number): Promise<number | undefined> {
  const { stdout } = await execFileP('ss', ['-Hltnp', `sport = :${port}`]).catch(() => ({ stdout: '' }));
  const m = /pid=(\d+)/.exec(stdout);
  return m ? Number(m[1]) : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

export function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim().split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

/** Starts a long-running process detached from this one, its output appended to logFile, its pid in pidFile. */
export function spawnDaemon(opts: {
  command: string;
  args: string[];
  logFile: string;
  pidFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}): number {
  const fd = openSync(opts.logFile, 'a');
  try {
    const child = spawn(opts.command, opts.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd,
    });
    if (child.pid === undefined) throw new Error(`could not spawn ${opts.command}`);
    child.unref();
    writeFileSync(opts.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
export async function terminate(pid: number, graceMs = 20_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  if (await waitUntil(async () => !isAlive(pid), graceMs, 200)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitUntil(async () => !isAlive(pid), 5000, 100);
}

export function removeFile(file: string): void {
  rmSync(file, { force: true });
}

export async function run(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return execFileP(command, args, { ...opts, env: { ...process.env, ...opts.env }, maxBuffer: 64 * 1024 * 1024 });
}
