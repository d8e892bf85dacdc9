import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ServerMetrics {
  readonly registry: Registry;
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly errorsByCode: Counter<'code'>;
  /** The last reconciliation: meters checked, and how many did not balance. */
  readonly reconciliation: Gauge<'result'>;
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
  };
}
