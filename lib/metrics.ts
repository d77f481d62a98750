import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The process's Prometheus metrics (served on /metrics). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labelNames = ['projection', 'topic', 'partition'] as const;
  return {
    registry,
    applied: new Counter({
      name: 'projection_applied_events_total',
      help: 'Events applied to a read model',
      labelNames,
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'projection_dead_letters_total',
      help: 'Events sent to the dead-letter topic (undecodable or failing for good)',
      labelNames,
      registers: [registry],
    }),
    lag: new Gauge({ name: 'projection_lag_events', help: 'Events in the partition not yet applied', labelNames, registers: [registry] }),
    staleness: new Gauge({
      name: 'projection_staleness_seconds',
      help: 'While events wait: seconds since the last applied event was written (an upper bound on the age of the oldest unapplied one); 0 when caught up',
      labelNames,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
