import { isTransient, withRetry } from './retry';

describe('retry', () => {
  test('transient infrastructure errors are retried until they pass', async () => {
    let calls = 0;
    const result = await withRetry(
      async () => {
        if (++calls < 3) throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
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

  test('classifies what a database or network outage looks like', () => {
    expect(isTransient(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toBe(true);
    expect(isTransient(new Error('connect ECONNREFUSED 127.0.0.1:54329'))).toBe(true);
    expect(isTransient(Object.assign(new Error('x'), { retriable: true }))).toBe(true);
    expect(isTransient(Object.assign(new Error('null value in column'), { code: '23502' }))).toBe(false);
  });

  test('gives up after the allowed retries', async () => {
    let calls = 0;
    await expect(withRetry(async () => (calls++, Promise.reject(new Error('ECONNRESET'))), { retries: 2, initialMs: 1 })).rejects.toThrow(
      'ECONNRESET',
    );
    expect(calls).toBe(3);
  });
});
