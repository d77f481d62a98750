import pg from 'pg';
import { InfraError } from './errors';
import { isRetriable, withRetry } from './retry';

/** An error as node-postgres raises it for a server's ErrorResponse. */
const pgError = (message: string, code: string) => Object.assign(new pg.DatabaseError(message, 0, 'error'), { code });
/** A socket error as node raises it. */
const systemError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:54329`), { code, syscall: 'connect' });

describe('retry', () => {
  test('transient infrastructure errors are retried until they pass', async () => {
    let calls = 0;
    const result = await withRetry(
      async () => {
        if (++calls < 3) throw pgError('deadlock detected', '40P01');
        return 'done';
      },
      { initialMs: 1 },
    );
    expect([result, calls]).toEqual(['done', 3]);
  });

  test('programmer errors and unknown errors are thrown at once', async () => {
    let calls = 0;
    await expect(withRetry(async () => (calls++, Promise.reject(new TypeError('x is undefined'))), { initialMs: 1 })).rejects.toThrow(
      TypeError,
    );
    await expect(withRetry(async () => (calls++, Promise.reject(new Error('duplicate key'))), { initialMs: 1 })).rejects.toThrow(
      'duplicate key',
    );
    expect(calls).toBe(2);
  });

  test('classifies what a database or network outage looks like, by type and typed properties', () => {
    expect(isRetriable(pgError('terminating connection due to administrator command', '57P01'))).toBe(true);
    expect(isRetriable(systemError('ECONNREFUSED'))).toBe(true);
    expect(isRetriable(new Error('Connection terminated unexpectedly'))).toBe(true);
    // As knex rethrows it: the query before the driver's message (a 500 in the database fault run before this).
    expect(isRetriable(new Error('select "status" from "device_users" where "user_id" = $1 - Connection terminated unexpectedly'))).toBe(
      true,
    );
    expect(isRetriable(Object.assign(new Error('x'), { retriable: true }))).toBe(true);
    expect(isRetriable(pgError('null value in column', '23502'))).toBe(false);
  });

  test('a message that only mentions an outage is not one: no retry on words', () => {
    expect(isRetriable(new Error('device name "ECONNREFUSED" is taken'))).toBe(false);
    expect(isRetriable(new Error('value too long: Connection terminated unexpectedly…'))).toBe(false);
    expect(isRetriable(new Error('select 1 - Connection terminated unexpectedly, said the name'))).toBe(false);
    expect(isRetriable(new TypeError('select 1 - Connection terminated unexpectedly'))).toBe(false);
    expect(isRetriable(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
    expect(isRetriable('ECONNRESET')).toBe(false);
  });

  test('an InfraError says itself; otherwise the cause decides', () => {
    expect(isRetriable(new InfraError('registry answered 503', true))).toBe(true);
    expect(isRetriable(new InfraError('registry answered 401', false, { cause: systemError('ECONNRESET') }))).toBe(false);
    expect(isRetriable(new Error('batch failed', { cause: pgError('could not serialize access', '40001') }))).toBe(true);
    expect(isRetriable(new Error('batch failed', { cause: new TypeError('x is undefined') }))).toBe(false);
    expect(isRetriable(new TypeError('fetch failed', { cause: systemError('ECONNREFUSED') }))).toBe(true);
  });

  test('gives up after the allowed retries', async () => {
    let calls = 0;
    await expect(withRetry(async () => (calls++, Promise.reject(systemError('ECONNRESET'))), { retries: 2, initialMs: 1 })).rejects.toThrow(
      'ECONNRESET',
    );
    expect(calls).toBe(3);
  });
});
