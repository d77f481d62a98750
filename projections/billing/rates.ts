import rates from '../../config/tier-rates.json';

/** Fen per started minute of a tier (config/tier-rates.json); an unknown tier is an error, not a free session. */
export function ratePerMinute(tier: string): number {
  const rate = (rates.fenPerStartedMinute as Record<string, number>)[tier];
  if (rate === undefined) throw new Error(`no metering rate for tier "${tier}" in config/tier-rates.json`);
  return rate;
}

export const RATE_CURRENCY = rates.currency;

/** A session's duration in whole seconds, the minutes it started, and its cost in integer fen. */
export function meter(startedAt: number, stoppedAt: number, fenPerMinute: number) {
  const ms = Math.max(0, stoppedAt - startedAt);
  const billedMinutes = Math.ceil(ms / 60_000);
  return { durationSeconds: Math.floor(ms / 1000), billedMinutes, costFen: billedMinutes * fenPerMinute };
}

/** The UTC day (YYYY-MM-DD) a session is counted on: the day it started. */
export const usageDay = (at: number) => new Date(at).toISOString().slice(0, 10);
