import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import type { AccountsService } from '../../accounts/index.ts';
import type { MetersService, ReconciliationReport } from '../../meters/index.ts';
import type { InstallationModule, ZeroizationReport } from '../../custody/index.ts';
import type { Fleet } from '../../fleet/index.ts';
import type { DatabaseSchema } from '../../store/index.ts';
import type { PoolStatus } from '../../vault/index.ts';
import { principalOf } from '../authentication.ts';
import { AccountView } from './account-schemas.ts';
import {
  AdminMeter,
  MeterWithRegisters,
  ModulesStatus,
  PoolLine,
  Zeroization,
  ZeroizationRequest,
  Reconciliation,
  adminMeterOf,
  meterWithRegisters,
  modulesStatusOf,
  reconciliationOf,
} from './admin-schemas.ts';

export interface AdminRouteDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly accounts: Pick<AccountsService, 'createStaffAccount'>;
  readonly meters: Pick<MetersService, 'show' | 'suspend' | 'resume' | 'disable'>;
  readonly moduleStatus: () => PoolStatus;
  /** Every module of the installation, from the module table (other processes' included). */
  readonly installationModules: () => Promise<InstallationModule[]>;
  /** Every server of the installation and the modules each claims, with heartbeats (fleet/). */
  readonly fleet: () => Promise<Fleet>;
  /** Destroys the installation's keys through one of this server's modules (`by`: who asked). */
  readonly zeroizeModule: (
    serial: string,
    officerCredential: string,
    by: string,
  ) => Promise<ZeroizationReport>;
  readonly reconcile: () => Promise<ReconciliationReport>;
}

const OPERATORS = ['admin', 'support', 'auditor'] as const;
const tags = ['admin'];
const MeterId = Type.Object({ id: Type.String({ pattern: '^[0-9A-Z]{12}$', examples: ['421D00000001'] }) });

/**
 * Operators' endpoints: crypto modules (status), meters (list, show, suspend, resume, disable),
 * pools and reconciliation, and staff accounts. Read by support and auditors; changed by admins.
 */
export function adminRoutes(dependencies: AdminRouteDependencies): FastifyPluginAsyncTypebox {
  const { db, accounts, meters } = dependencies;
  return (app) => {
    app.addSchema(AdminMeter);
    app.get(
      '/v1/admin/modules',
      {
        config: { access: { roles: ['admin', 'crypto-officer', 'auditor', 'support'] } },
        schema: {
          tags,
          summary:
            'The crypto module pool: each module’s state, keys, load and checkpoint ring; and the fleet: every module of every server',
          response: { 200: ModulesStatus },
        },
      },
      async () =>
        modulesStatusOf(
          dependencies.moduleStatus(),
          await dependencies.installationModules(),
          await dependencies.fleet(),
        ),
    );

    app.post(
      '/v1/admin/modules/:serial/zeroize',
      {
        config: { access: { roles: ['crypto-officer'] } },
        schema: {
          tags,
          summary:
            'Zeroize: destroy the keys every module of this installation shares, and the rings; nothing sealed opens again',
          description:
            'Through one of this server’s modules, with the modules’ crypto-officer credential and the confirmation ' +
            '`destroy-all-keys`. Every PSD package, the CA key and every meter become unreadable for good; the ' +
            'server stops serving (readiness 503). Audited as `vault.module_zeroized`.',
          params: Type.Object({
            serial: Type.String({ minLength: 1, maxLength: 100, examples: ['SW-98024F243A'] }),
          }),
          body: ZeroizationRequest,
          response: { 200: Zeroization },
        },
      },
      async (request) => {
        const report = await dependencies.zeroizeModule(
          request.params.serial,
          request.body.officerCredential,
          principalOf(request).email,
        );
        return { ...report, retiredSerials: [...report.retiredSerials] };
      },
    );

    app.get(
      '/v1/admin/meters',
      {
        config: { access: { roles: OPERATORS } },
        schema: {
          tags,
          summary: 'Meters, newest first, optionally of one customer',
          querystring: Type.Object(
            { customerNumber: Type.Optional(Type.String({ pattern: '^[0-9]{1,12}$' })) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ meters: Type.Array(Type.Ref('AdminMeter')) }) },
        },
      },
      async (request) => {
        let query = db.selectFrom('meters').selectAll().orderBy('created_at', 'desc').limit(500);
        if (request.query.customerNumber !== undefined)
          query = query.where('customer_number', '=', Number(request.query.customerNumber));
        return { meters: (await query.execute()).map(adminMeterOf) };
      },
    );

    app.get(
      '/v1/admin/meters/:id',
      {
        config: { access: { roles: OPERATORS } },
        schema: {
          tags,
          summary: 'A meter and its registers, as its sealed package holds them',
          params: MeterId,
          response: { 200: MeterWithRegisters },
        },
      },
      async (request) => meterWithRegisters(await meters.show(request.params.id)),
    );

    for (const action of ['suspend', 'resume', 'disable'] as const) {
      app.post(
        `/v1/admin/meters/:id/${action}`,
        {
          config: { access: { roles: ['admin'] } },
          schema: {
            tags,
            summary:
              action === 'disable'
                ? 'Disable a meter over suspected fraud (it stops printing until reviewed)'
                : `${action === 'suspend' ? 'Suspend' : 'Resume'} a meter`,
            params: MeterId,
            body: Type.Optional(
              Type.Object(
                { reason: Type.Optional(Type.String({ maxLength: 500 })) },
                { additionalProperties: false },
              ),
            ),
            response: { 200: MeterWithRegisters },
          },
        },
        async (request) => {
          const meterId = request.params.id;
          if (action === 'disable') {
            // A request without a body is fine: the reason then names who disabled it.
            const body = request.body as { reason?: string } | undefined;
            const reason = body?.reason ?? `disabled by ${principalOf(request).email}`;
            await meters.disable(meterId, reason);
          } else if (action === 'suspend') await meters.suspend(meterId);
          else await meters.resume(meterId);
          return meterWithRegisters(await meters.show(meterId));
        },
      );
    }

    app.get(
      '/v1/admin/pools',
      {
        config: { access: { roles: OPERATORS } },
        schema: {
          tags,
          summary:
            'Each pool: purchases, the master PSD’s AR and Σ(MPSD.AR + MPSD.DR), proved from stored data',
          response: { 200: Type.Object({ pools: Type.Array(PoolLine) }) },
        },
      },
      async () => ({ pools: reconciliationOf(await dependencies.reconcile()).pools }),
    );

    app.post(
      '/v1/admin/reconciliations',
      {
        config: { access: { roles: ['admin', 'auditor'] } },
        schema: {
          tags,
          summary: 'Reconcile now: AR + DR = funded for every meter, the pool equations, customer balances',
          response: { 200: Reconciliation },
        },
      },
      async () => reconciliationOf(await dependencies.reconcile()),
    );

    app.post(
      '/v1/admin/accounts',
      {
        config: { access: { roles: ['admin'] } },
        schema: {
          tags,
          summary:
            'Create a staff account (support, admin, crypto-officer, auditor, verifier: the only role that records scans)',
          body: Type.Object(
            {
              email: Type.String({ maxLength: 254 }),
              name: Type.String({ maxLength: 100 }),
              role: Type.Union([
                Type.Literal('support'),
                Type.Literal('admin'),
                Type.Literal('crypto-officer'),
                Type.Literal('auditor'),
                Type.Literal('verifier'),
              ]),
              password: Type.String({ maxLength: 1024 }),
            },
            { additionalProperties: false },
          ),
          response: { 201: Type.Object({ account: AccountView }) },
        },
      },
      async (request, reply) =>
        reply.status(201).send({ account: await accounts.createStaffAccount(request.body) }),
    );
    return Promise.resolve();
  };
}
