import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

export interface HealthDependencies {
  readonly version: string;
  /** Resolves when the database answers. */
  pingDatabase(): Promise<void>;
  /** True once shutdown has begun: readiness fails so load balancers drain this instance. */
  isShuttingDown(): boolean;
  /**
   * False when the crypto module pool has stopped the service (inhibited modules of the whole
   * installation, zeroized keys); may read the database first.
   */
  isVaultServing(): boolean | Promise<boolean>;
}

const Liveness = Type.Object({
  status: Type.Literal('ok'),
  version: Type.String({ examples: ['0.1.0'] }),
  uptimeSeconds: Type.Integer({ minimum: 0 }),
});

const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  checks: Type.Object({
    database: Type.Union([Type.Literal('ok'), Type.Literal('failing')]),
    vault: Type.Union([Type.Literal('ok'), Type.Literal('stopped')]),
    shutdown: Type.Union([Type.Literal('no'), Type.Literal('in_progress')]),
  }),
});

/** Liveness (`/healthz`: the process answers) and readiness (`/readyz`: it can do work). */
export function healthRoutes(dependencies: HealthDependencies): FastifyPluginAsyncTypebox {
  const startedAt = Date.now();
  return (app) => {
    app.get(
      '/healthz',
      {
        schema: {
          tags: ['operations'],
          summary: 'Liveness: the process is up and answering',
          response: { 200: Liveness },
        },
      },
      () => ({
        status: 'ok' as const,
        version: dependencies.version,
        uptimeSeconds: Math.floor((Date.now() - startedAt) / 1000),
      }),
    );

    app.get(
      '/readyz',
      {
        schema: {
          tags: ['operations'],
          summary:
            'Readiness: the database answers, the crypto modules serve, and the server is not shutting down',
          response: { 200: Readiness, 503: Readiness },
        },
      },
      async (request, reply) => {
        const isShuttingDown = dependencies.isShuttingDown();
        let database: 'ok' | 'failing' = 'ok';
        try {
          await dependencies.pingDatabase();
        } catch (error) {
          request.log.warn({ err: error }, 'readiness: database ping failed');
          database = 'failing';
        }
        const vault = (await dependencies.isVaultServing()) ? 'ok' : 'stopped';
        const isReady = database === 'ok' && vault === 'ok' && !isShuttingDown;
        return reply.status(isReady ? 200 : 503).send({
          status: isReady ? 'ready' : 'not_ready',
          checks: { database, vault, shutdown: isShuttingDown ? 'in_progress' : 'no' },
        });
      },
    );
    return Promise.resolve();
  };
}
