import { KnexTimeoutError } from 'knex';
import pg from 'pg';
import { InfraError } from './errors';
import { sleep } from './wait';
/**
 * One retry helper: exponential backoff with full jitter, for infrastructure errors that can pass (a database
 * restart, a deadlock, a broker hiccup). Programmer errors (TypeError, RangeError, …) are never retried.
 */
const PROGRAMMER_ERRORS = [TypeError, RangeError, ReferenceError, SyntaxError];

/** PostgreSQL errors that a retry can fix (SQLSTATE): serialization failure, deadlock, shutdown, connection failures. */
const RETRIABLE_SQLSTATES = new Set(['40001', '40P01', '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006']);
/** Node's socket errors (`code` of a system error). */
const RETRIABLE_SYSCALL_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/**
 * The only errors known by their message: node-postgres and pg-pool raise their connection losses as plain
 * `Error`s with no code (pg/lib/client.js, pg-pool/index.js).
 */
const PG_CONNECTION_LOSSES = new Set([
  'Connection terminated',
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
]);

/** The driver's own message: knex puts the failed query before it (`<sql> - <message>`, on the same error). */
const driverMessage = (message: string): string => {
  const at = message.lastIndexOf(' - ');
  return at < 0 ? message : message.slice(at + 3);
};

/**
 * Whether a retry can fix the error, from its type and typed properties: our InfraError's and kafkajs' `retriable`,
 * PostgreSQL's SQLSTATE, a system error's `code`, knex's pool timeout; else its cause's answer.
 */
export function isRetriable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // A programmer error is never retried, unless it only wraps what failed (fetch's TypeError('fetch failed', { cause })).
  if (PROGRAMMER_ERRORS.some((E) => err instanceof E)) return err.cause !== undefined && isRetriable(err.cause);
  if (err instanceof InfraError) return err.retriable;
  if ((err as { retriable?: unknown }).retriable === true) return true;
  if (err instanceof KnexTimeoutError) return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (err instanceof pg.DatabaseError) return RETRIABLE_SQLSTATES.has(code);
    if (RETRIABLE_SYSCALL_CODES.has(code)) return true;
  }
  if (err.constructor === Error && PG_CONNECTION_LOSSES.has(driverMessage(err.message))) return true;
  return err.cause !== undefined && isRetriable(err.cause);
}

export async function withRetry<T>(
  fn: () => Promise<T>,
  opts: { retries?: number; initialMs?: number; maxMs?: number; onRetry?: (err: unknown, attempt: number, delayMs: number) => void } = {},
): Promise<T> {
  const { retries = Number.POSITIVE_INFINITY, initialMs = 100, maxMs = 10_000 } = opts;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isRetriable(err) || attempt >= retries) throw err;
      const delayMs = Math.round(Math.random() * Math.min(maxMs, initialMs * 2 ** attempt));
      opts.onRetry?.(err, attempt + 1, delayMs);
      await sleep(delayMs);
    }
  }
}
