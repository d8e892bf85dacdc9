import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServerMetrics } from '../../telemetry/index.ts';

/** Prometheus exposition at `/metrics`, plus the hook that times every request. */
export function metricsRoutes(metrics: ServerMetrics): FastifyPluginAsyncTypebox {
  return (app) => {
    app.get(
      '/metrics',
      {
        schema: {
          tags: ['operations'],
          summary: 'Prometheus metrics (text exposition format)',
          produces: ['text/plain'],
        },
      },
      async (_request, reply) =>
        reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    );
    return Promise.resolve();
  };
}
