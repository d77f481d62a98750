import { sleep } from './wait';
/**
 * One retry helper: exponential backoff with full jitter, for infrastructure errors that can pass (a database
 * restart, a deadlock, a broker hiccup). Programmer errors (TypeError, RangeError, …) are never retried.
 */
const PROGRAMMER_ERRORS = [TypeError, RangeError, ReferenceError, SyntaxError];

/** PostgreSQL errors that a retry can fix: serialization failure, deadlock, shutdown, connection failures. */
const TRANSIENT_PG_CODES = new Set(['40001', '40P01', '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006']);
const TRANSIENT_MESSAGES =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|Connection terminated|timeout exceeded when trying to connect|Knex: Timeout acquiring a connection|the database system is (starting up|shutting down)/i;

export function isTransient(err: unknown): boolean {
  if (PROGRAMMER_ERRORS.some((E) => err instanceof E)) return false;
  const e = err as { code?: string; retriable?: boolean; message?: string; name?: string };
  if (e?.retriable === true) return true;
  if (e?.code && TRANSIENT_PG_CODES.has(e.code)) return true;
  if (e?.name === 'KnexTimeoutError') return true;
  return TRANSIENT_MESSAGES.test(e?.message ?? '');
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
      if (!isTransient(err) || attempt >= retries) throw err;
      const delayMs = Math.round(Math.random() * Math.min(maxMs, initialMs * 2 ** attempt));
      opts.onRetry?.(err, attempt + 1, delayMs);
      await sleep(delayMs);
    }
  }
}
