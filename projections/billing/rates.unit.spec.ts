import { meter, ratePerMinute, usageDay } from './rates';

describe('metering money rules', () => {
  test('cost is the rate times the started minutes, in integer fen', () => {
    expect(meter(0, 60_000, 10)).toEqual({ durationSeconds: 60, billedMinutes: 1, costFen: 10 });
    expect(meter(0, 60_001, 10)).toEqual({ durationSeconds: 60, billedMinutes: 2, costFen: 20 });
    expect(meter(0, 1, 20)).toEqual({ durationSeconds: 0, billedMinutes: 1, costFen: 20 });
    expect(meter(5_000, 5_000, 10)).toEqual({ durationSeconds: 0, billedMinutes: 0, costFen: 0 });
    expect(meter(0, 90 * 60_000 + 30_000, 5)).toEqual({ durationSeconds: 5430, billedMinutes: 91, costFen: 455 });
  });
  test('a stop before the start (clock skew) costs nothing rather than a negative amount', () => {
    expect(meter(10_000, 5_000, 10)).toEqual({ durationSeconds: 0, billedMinutes: 0, costFen: 0 });
  });
  test('rates come from config/tier-rates.json; an unknown tier is an error', () => {
    expect([ratePerMinute('basic'), ratePerMinute('standard'), ratePerMinute('premium')]).toEqual([5, 10, 20]);
    expect(() => ratePerMinute('gold')).toThrow(/no metering rate for tier "gold"/);
  });
  test('a session counts on the UTC day it started', () => {
    expect(usageDay(Date.UTC(2026, 10, 25, 23, 59, 59))).toBe('2026-11-25');
  });
});
