import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The process's Prometheus metrics (served on /metrics). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labelNames = ['projection', 'topic', 'partition'] as const;
  /** The command processors' partitions with a batch in flight (lib/command-processor.ts), read at each scrape. */
  const commandPartitions = new Set<() => Array<{ topic: string; partition: number; since: number }>>();
  return {
    registry,
    commandDeadLetters: new Counter({
      name: 'command_dead_letters_total',
      help: 'Commands refused as poison (unparsable, unknown type, unencodable or too large events, unexpected errors) and copied to the command dead-letter topic',
      labelNames: ['topic', 'code'] as const,
      registers: [registry],
    }),
    commandOldestAge: new Gauge({
      name: 'command_oldest_unconsumed_age_seconds',
      help: 'Per command partition with a batch in flight: seconds since its oldest command was written (a stuck partition grows without bound)',
      labelNames: ['topic', 'partition'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const source of commandPartitions) {
          for (const p of source())
            this.set({ topic: p.topic, partition: String(p.partition) }, Math.max(0, (Date.now() - p.since) / 1000));
        }
      },
    }),
    /** Registers a command processor's partitions for `command_oldest_unconsumed_age_seconds`. */
    trackCommandPartitions(source: () => Array<{ topic: string; partition: number; since: number }>): void {
      commandPartitions.add(source);
    },
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
