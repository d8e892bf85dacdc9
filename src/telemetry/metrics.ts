import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ServerMetrics {
  readonly registry: Registry;
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly errorsByCode: Counter<'code'>;
  /** The last reconciliation: meters checked, and how many did not balance. */
  readonly reconciliation: Gauge<'result'>;
  /** Exports group commit's counts (read at each scrape): commits, and the commands they held. */
  observeGroupCommits(read: () => { readonly groups: number; readonly commands: number }): void;
}

/**
 * A Prometheus registry of its own per server (so tests can run several servers in one process),
 * with Node's process metrics and the HTTP metrics every later module adds to.
 */
export function createMetrics(): ServerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'indicia' });
  collectDefaultMetrics({ register: registry, prefix: 'indicia_' });
  return {
    registry,
    httpRequestDuration: new Histogram({
      name: 'indicia_http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    errorsByCode: new Counter({
      name: 'indicia_errors_total',
      help: 'Errors returned to clients, by stable error code.',
      labelNames: ['code'],
      registers: [registry],
    }),
    reconciliation: new Gauge({
      name: 'indicia_reconciliation_meters',
      help: 'The last reconciliation run: meters checked (result="meters") and unbalanced (result="unbalanced").',
      labelNames: ['result'],
      registers: [registry],
    }),
    observeGroupCommits(read) {
      // Counters in meaning; gauges because the counts live in custody and are read when scraped.
      new Gauge({
        name: 'indicia_group_commits_total',
        help: 'Database commits of module command groups since start (group commit).',
        registers: [registry],
        collect() {
          this.set(read().groups);
        },
      });
      new Gauge({
        name: 'indicia_group_commit_commands_total',
        help: 'Module commands those commits held; divided by indicia_group_commits_total, the mean group size.',
        registers: [registry],
        collect() {
          this.set(read().commands);
        },
      });
    },
  };
}
