import { randomUUID } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger, ServerMetrics } from '../telemetry/index.ts';
import type { AccountsService } from '../accounts/index.ts';
import type { AddressProvider } from '../addresses/index.ts';
import type { AuthorityService, LicenceDecision } from '../authority/index.ts';
import type { Kysely } from 'kysely';
import type { MetersService, PoolService, ReconciliationReport } from '../meters/index.ts';
import type { PaymentProcessor } from '../payments/index.ts';
import type { RatesService } from '../rates/index.ts';
import type { RenderPool } from '../labels/index.ts';
import { AdTexts, type LabelStock, type MailingLists } from '../printing/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import type { PoolStatus } from '../vault/index.ts';
import type { WebhooksService } from '../webhooks/index.ts';
import { installAuthentication } from './authentication.ts';
import { installErrorHandler } from './error-handler.ts';
import { installIdempotency } from './idempotency.ts';
import { installRateLimits } from './rate-limits.ts';
import { accountRoutes } from './routes/account-routes.ts';
import { type AdminRouteDependencies, adminRoutes } from './routes/admin-routes.ts';
import { certificateRoutes } from './routes/certificate-routes.ts';
import { deviceRoutes } from './routes/device-routes.ts';
import { type HealthDependencies, healthRoutes } from './routes/health-routes.ts';
import { meterRoutes } from './routes/meter-routes.ts';
import { indiciaRoutes } from './routes/indicia-routes.ts';
import { labelRoutes } from './routes/label-routes.ts';
import { labelSheetRoutes } from './routes/label-sheet-routes.ts';
import { mailingListRoutes } from './routes/mailing-list-routes.ts';
import { addressRoutes } from './routes/address-routes.ts';
import { rateRoutes } from './routes/rate-routes.ts';
import { customerIssuer } from './customer-issuer.ts';
import { metricsRoutes } from './routes/metrics-routes.ts';
import { valueRoutes } from './routes/value-routes.ts';
import { verificationRoutes } from './routes/verification-routes.ts';
import { revenueProtectionRoutes } from './routes/revenue-protection-routes.ts';
import { refundRoutes } from './routes/refund-routes.ts';
import { Receipt } from './routes/value-schemas.ts';
import { webhookRoutes } from './routes/webhook-routes.ts';
import type { EventOutbox } from './event-outbox.ts';
import { ErrorResponse } from './schemas.ts';
import { SECURITY_SCHEMES, installRouteDocumentation } from './route-documentation.ts';

export interface ApiServerDependencies {
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  readonly health: HealthDependencies;
  readonly authority: Pick<
    AuthorityService,
    'caCertificate' | 'certificate' | 'caGenerations' | 'revocationLists'
  >;
  readonly accounts: AccountsService;
  readonly meters: Pick<
    MetersService,
    | 'provisionCustomer'
    | 'customerMeter'
    | 'dedicatedMeterOf'
    | 'hasClientPackage'
    | 'enrollmentKey'
    | 'enrollDevice'
    | 'devices'
    | 'device'
    | 'revokeDevice'
    | 'renewDevice'
    | 'fund'
    | 'issue'
    | 'receipt'
    | 'indiciaOf'
    | 'indicium'
    | 'refundPolicy'
    | 'requestRefund'
    | 'decideRefund'
    | 'refundRequests'
    | 'refundRequest'
    | 'setPricingPlan'
    | 'pricingPlans'
    | 'correct'
    | 'verify'
    | 'check'
    | 'revokeCertificate'
    | 'revenueProtectionReports'
    | 'show'
    | 'suspend'
    | 'resume'
    | 'disable'
  >;
  readonly db: Kysely<DatabaseSchema>;
  readonly moduleStatus: () => PoolStatus;
  readonly installationModules: AdminRouteDependencies['installationModules'];
  readonly fleet: AdminRouteDependencies['fleet'];
  readonly zeroizeModule: AdminRouteDependencies['zeroizeModule'];
  readonly reconcile: () => Promise<ReconciliationReport>;
  readonly webhooks: WebhooksService;
  /** Pooled customers' deposits and printing. */
  readonly pool: Pick<PoolService, 'deposit' | 'issue'>;
  /** Serialized label stock and mailing lists. */
  readonly stock: LabelStock;
  readonly lists: MailingLists;
  /** Address verification (the offline ZIP reference unless an operator plugs in another). */
  readonly addresses: AddressProvider;
  /** Rate tables and quotes. */
  readonly rates: RatesService;
  /** Label rendering on worker threads. */
  readonly renderer: RenderPool;
  readonly rateLimits: { readonly perMinute: number; readonly scale: number };
  readonly events: EventOutbox;
  /** The card processor behind POST /v1/funds (the sandbox until a real one is configured). */
  readonly processor: PaymentProcessor;
  readonly licenceOf: (accountId: string) => Promise<LicenceDecision | undefined>;
  /** PEM key and certificate; when given the server speaks HTTPS only. */
  readonly tls?: { readonly key: Buffer; readonly cert: Buffer } | undefined;
}

const REQUEST_ID_HEADER = 'x-request-id';
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Builds the HTTP server: request ids, logging, metrics, OpenAPI at `/openapi.json`, the docs page
 * at `/docs`, the error handler and the routes. Does not listen; the composition root does.
 *
 * @example const app = await createApiServer({ logger, metrics, health }); await app.listen({ port: 8080 });
 */
export async function createApiServer(dependencies: ApiServerDependencies): Promise<FastifyInstance> {
  const { logger, metrics, health } = dependencies;
  // Typed as Fastify's logger so the instance keeps FastifyInstance's default generics.
  const fastifyLogger: FastifyBaseLogger = logger;
  const app = Fastify({
    loggerInstance: fastifyLogger,
    ...(dependencies.tls ? { https: dependencies.tls } : {}),
    // An upstream proxy's id is kept when it looks sane, so one id follows a request end to end.
    genReqId: (request) => {
      const incoming = request.headers[REQUEST_ID_HEADER];
      return typeof incoming === 'string' && ACCEPTABLE_REQUEST_ID.test(incoming)
        ? incoming
        : `req_${randomUUID()}`;
    },
    // One line per request, written in onResponse below, instead of Fastify's two.
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequestDuration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    request.log.info(
      {
        method: request.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
    done();
  });

  app.addSchema(ErrorResponse);
  // Shared by several route plugins (each plugin's own schemas stay inside it).
  app.addSchema(Receipt);
  // Every documented route states who may call it and each error status with its codes.
  installRouteDocumentation(app);
  // Before any plugin registers routes: their contexts must see these request decorations.
  installAuthentication(app, dependencies.accounts);
  installRateLimits(app, dependencies.rateLimits.perMinute, dependencies.rateLimits.scale);
  installIdempotency(app, dependencies.db);
  await app.register(fastifySwagger, {
    // Component names are the schemas' $id (ErrorResponse), not generated def-N names.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, index) =>
        typeof json.$id === 'string' ? json.$id : `def-${index}`,
    },
    openapi: {
      openapi: '3.1.0',
      components: { securitySchemes: SECURITY_SCHEMES },
      info: {
        title: 'Indicia API',
        version: health.version,
        description:
          'Online postage meter and value-bearing-item server. Amounts are integers in mills ' +
          '(1/1000 dollar) with the unit in the field name. Every error has the shape ' +
          '`{ error: { code, message, requestId } }` with a stable code.',
      },
      tags: [
        { name: 'operations', description: 'Health, readiness and metrics for operators' },
        {
          name: 'accounts',
          description:
            'Sign-up, e-mail verification, sessions (HttpOnly cookie + X-CSRF-Token header) and scoped API keys (Authorization: Bearer ik_…)',
        },
        { name: 'meter', description: "The customer's meter and registers, or prefunded balance" },
        {
          name: 'devices',
          description:
            'The signed client protocol: enroll devices (up to 16 per meter, each HMAC key sealed into your meter), revoke or renew them, and sign every value-moving request (docs/client-protocol.md)',
        },
        {
          name: 'indicia',
          description:
            'The indicium log, spoilage refunds, corrections; the public check (anyone, records nothing) and verifiers’ scans (recorded)',
        },
        {
          name: 'labels',
          description:
            'Serialized label sheets, and mailing lists: import a CSV, review it, print it all in one batch into one PDF',
        },
        {
          name: 'addresses',
          description:
            'Address standardization (USPS Publication 28) and verification against the ZIP reference',
        },
        {
          name: 'rates',
          description: 'Rate tables with effective dates and sources, zones, quotes, housekeeping',
        },
        {
          name: 'webhooks',
          description:
            'Events (funds.posted, indicium.issued, refund.decided, balance.low) posted to your URL, signed with HMAC-SHA256, retried with backoff',
        },
        {
          name: 'admin',
          description:
            'Operators: modules, meters, pools, reconciliation, staff accounts, revenue-protection reports, certificate revocation',
        },
        {
          name: 'value',
          description:
            'Requests that move value: device-signed, answered with a signed receipt and the next challenge. Cards go through the SANDBOX processor: no real money.',
        },
        {
          name: 'certificates',
          description:
            'The certificate authority (every generation, cross-certificates, CRLs) and meter certificates, for verifiers',
        },
      ],
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });

  installErrorHandler(app, metrics);
  const issuer = customerIssuer({
    meters: dependencies.meters,
    pool: dependencies.pool,
    events: dependencies.events,
    accounts: dependencies.accounts,
    stock: dependencies.stock,
  });
  await app.register(healthRoutes(health));
  await app.register(metricsRoutes(metrics));
  await app.register(certificateRoutes(dependencies.authority));
  await app.register(
    accountRoutes({
      accounts: dependencies.accounts,
      meters: dependencies.meters,
      licenceOf: dependencies.licenceOf,
      isHttps: dependencies.tls !== undefined,
    }),
  );
  await app.register(meterRoutes(dependencies.meters));
  await app.register(deviceRoutes({ meters: dependencies.meters, issuer }));
  await app.register(
    valueRoutes({
      db: dependencies.db,
      meters: dependencies.meters,
      processor: dependencies.processor,
      events: dependencies.events,
      pool: dependencies.pool,
      issuer,
      rates: dependencies.rates,
    }),
  );
  await app.register(indiciaRoutes(dependencies.meters, dependencies.events, dependencies.db));
  await app.register(
    refundRoutes({ meters: dependencies.meters, events: dependencies.events, db: dependencies.db }),
  );
  await app.register(verificationRoutes(dependencies.meters));
  const { db, accounts, stock, lists, renderer } = dependencies;
  const ads = new AdTexts(db);
  const { rates } = dependencies;
  await app.register(labelRoutes({ db, meters: dependencies.meters, accounts, stock, renderer, ads, rates }));
  const { addresses } = dependencies;
  await app.register(labelSheetRoutes({ ads, stock, issuer, rates, db: dependencies.db }));
  await app.register(mailingListRoutes({ ads, lists, issuer, accounts, rates, addresses, db }));
  await app.register(addressRoutes(dependencies.addresses));
  await app.register(rateRoutes(dependencies.rates));
  await app.register(webhookRoutes(dependencies.webhooks));
  await app.register(
    adminRoutes({
      db: dependencies.db,
      accounts: dependencies.accounts,
      meters: dependencies.meters,
      moduleStatus: dependencies.moduleStatus,
      installationModules: dependencies.installationModules,
      fleet: dependencies.fleet,
      zeroizeModule: dependencies.zeroizeModule,
      reconcile: dependencies.reconcile,
    }),
  );
  await app.register(revenueProtectionRoutes(dependencies.meters));
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  app.get('/', { schema: { hide: true } }, (_request, reply) => reply.redirect('/docs'));
  return app;
}
