import { Type } from 'typebox';
import type { ReconciliationReport } from '../../meters/index.ts';
import type { MetersTable } from '../../store/index.ts';
import type { InstallationModule } from '../../custody/index.ts';
import type { Fleet } from '../../fleet/index.ts';
import type { PoolStatus, PsdView } from '../../vault/index.ts';

const Mills = (description: string) => Type.Integer({ description: `${description}, in mills` });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

export const AdminMeter = Type.Object(
  {
    meterId: Type.String({ examples: ['421D00000001'] }),
    mode: Type.String({ examples: ['dedicated', 'pooled', 'master'] }),
    customerNumber: Type.Integer(),
    status: Type.String({ examples: ['active', 'suspended', 'withdrawn', 'disabled'] }),
    licensingZip: Type.String(),
    certificateSerial: Type.String(),
    maxDescendingRegisterMills: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'AdminMeter' },
);

export const MeterWithRegisters = Type.Object({
  meter: Type.Ref('AdminMeter'),
  psd: Type.Object({
    state: Type.String({ examples: ['active', 'suspended', 'withdrawn'] }),
    sequence: Type.Integer({ description: 'The sealed package’s sequence number' }),
    ascendingRegisterMills: Mills('AR'),
    descendingRegisterMills: Mills('DR'),
    maxDescendingRegisterMills: Mills('Max DR'),
    refundRegisterMills: Mills('Refunded'),
    signingKeyAlgorithm: Type.String(),
    signingKeyExpiresAt: Type.String({ format: 'date-time' }),
    deviceEnrolled: Type.Boolean(),
    updatedAt: Type.String({ format: 'date-time' }),
  }),
});

export function adminMeterOf(row: MetersTable) {
  return {
    meterId: row.meter_id,
    mode: row.mode,
    customerNumber: row.customer_number,
    status: row.status,
    licensingZip: row.licensing_zip,
    certificateSerial: row.certificate_serial,
    maxDescendingRegisterMills: row.max_descending_register_mills,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function meterWithRegisters({ meter, psd }: { meter: MetersTable; psd: PsdView }) {
  return {
    meter: adminMeterOf(meter),
    psd: {
      state: psd.state,
      sequence: psd.sequence,
      ascendingRegisterMills: psd.ascendingRegister,
      descendingRegisterMills: psd.descendingRegister,
      maxDescendingRegisterMills: psd.maxDescendingRegister,
      refundRegisterMills: psd.refundRegister,
      signingKeyAlgorithm: psd.signingKey.algorithm,
      signingKeyExpiresAt: psd.signingKey.expiresAt,
      deviceEnrolled: psd.hasHmk,
      updatedAt: psd.updatedAt,
    },
  };
}

const Inhibition = Type.Object({
  reason: Type.String(),
  since: Type.String(),
  cause: Type.Union([Type.Literal('database'), Type.Literal('module')]),
});

const FleetServerState = Type.Union(
  [Type.Literal('live'), Type.Literal('unresponsive'), Type.Literal('gone'), Type.Literal('stopped')],
  {
    description:
      'live: its claim held, heartbeat within the lease; unresponsive: claim held, heartbeat late; gone: it died (its modules return when its data directory starts again); stopped: shut down cleanly',
  },
);

export const ModulesStatus = Type.Object({
  stopped: Nullable(Type.Object({ reason: Type.String(), since: Type.String() })),
  inhibitThreshold: Type.Integer(),
  inhibitedModules: Type.Integer({ description: 'Inhibited modules of the whole installation' }),
  inhibitedElsewhere: Type.Array(Type.Intersect([Type.Object({ serial: Type.String() }), Inhibition]), {
    description: 'Inhibitions the database records for modules outside this server (the operator’s)',
  }),
  installation: Type.Array(
    Type.Object({
      serial: Type.String(),
      backend: Type.String(),
      moduleNumber: Nullable(Type.Integer()),
      owner: Type.Union([Type.Literal('server'), Type.Literal('operator'), Type.Literal('unknown')]),
      checkpointAt: Nullable(Type.String()),
      inhibited: Nullable(Inhibition),
      zeroizedAt: Nullable(Type.String()),
    }),
    { description: 'Every module the installation has had (the module table), whichever process runs it' },
  ),
  fleet: Type.Object(
    {
      leaseSeconds: Type.Number({ description: 'A server whose heartbeat is older than this is not live' }),
      servers: Type.Array(
        Type.Object({
          serverId: Type.String({ examples: ['srv_3f9c0a1b2c3d4e5f'] }),
          host: Type.String(),
          pid: Type.Integer(),
          port: Nullable(Type.Integer()),
          dataDir: Type.String(),
          startedAt: Type.String(),
          heartbeatAt: Type.String(),
          stoppedAt: Nullable(Type.String()),
          state: FleetServerState,
          groupsCommitted: Type.Integer({
            description: 'Group commits since its start, at its last heartbeat',
          }),
          commandsCommitted: Type.Integer({ description: 'Commands those groups carried' }),
          waitingCommands: Type.Integer({
            description: 'Commands waiting for one of its modules (in flight)',
          }),
        }),
      ),
      modules: Type.Array(
        Type.Object({
          moduleNumber: Type.Integer(),
          serverId: Type.String(),
          serial: Nullable(Type.String()),
          state: Type.String({
            description: 'The module’s state at its last heartbeat, or `gone` / `stopped` with its server',
            examples: ['user', 'error', 'gone'],
          }),
          serverState: FleetServerState,
          host: Type.String(),
          port: Nullable(Type.Integer()),
          totalOperations: Type.Integer(),
          operationsPerSecond: Type.Number(),
          load: Type.Number(),
          heartbeatAt: Nullable(Type.String()),
        }),
      ),
    },
    {
      description:
        'Every server of the installation (one database) and every module number each claims, from their heartbeats',
    },
  ),
  waitingCommands: Type.Integer(),
  modules: Type.Array(
    Type.Object(
      {
        serial: Type.String({ examples: ['SW-98024F243A'] }),
        backend: Type.String({ examples: ['software', 'pkcs11'] }),
        moduleNumber: Nullable(Type.Integer()),
        state: Type.String({ examples: ['user', 'error', 'zeroized'] }),
        errorReason: Nullable(Type.String()),
        zeroizedAt: Nullable(Type.String()),
        inhibited: Nullable(Inhibition),
        keys: Type.Object({
          currentMasterKeyVersion: Nullable(Type.Integer()),
          minimumMasterKeyVersion: Type.Integer(),
          masterKeyVersions: Type.Array(Type.Integer()),
        }),
        startedAt: Type.String(),
        uptimeSeconds: Type.Number(),
        totalOperations: Type.Integer(),
        operationsPerSecond: Type.Number(),
        load: Type.Number(),
        checkpointRingLength: Type.Integer(),
      },
      { additionalProperties: true },
    ),
  ),
});

export const PoolLine = Type.Object({
  masterMeterId: Type.String(),
  purchasedMills: Mills('Bought from the authority'),
  masterAscendingRegisterMills: Mills('GPSD.AR'),
  miniPsdTotalMills: Mills('Σ(MPSD.AR + MPSD.DR)'),
  differences: Type.Array(Type.String()),
});

export const Reconciliation = Type.Object({
  at: Type.String({ format: 'date-time' }),
  isBalanced: Type.Boolean(),
  moduleLog: Type.Object(
    {
      records: Type.Integer(),
      modulesPrintedMills: Mills('Σ over modules of the printed value in their newest log record'),
      packagesPrintedMills: Mills("Σ of the packages' AR, master PSDs excepted"),
      modulesRefundedMills: Mills('Σ over modules of the refunded value in their newest log record'),
      packagesRefundRegisterMills: Mills("Σ of the packages' refund registers"),
      differences: Type.Array(Type.String()),
    },
    { description: 'The protected module log, checked from its start, against the packages' },
  ),
  meters: Type.Array(
    Type.Object({
      meterId: Type.String(),
      fundedMills: Type.Integer(),
      printedMills: Type.Integer(),
      ascendingRegisterMills: Type.Integer(),
      descendingRegisterMills: Type.Integer(),
      refundRegisterMills: Type.Integer(),
      withdrawnMills: Type.Integer(),
      spoiledMills: Type.Integer(),
      differences: Type.Array(Type.String()),
    }),
  ),
  pools: Type.Array(PoolLine),
  customerBalances: Type.Integer(),
  balanceDifferences: Type.Array(Type.String()),
});

export const ZeroizationRequest = Type.Object(
  {
    officerCredential: Type.String({ minLength: 1, maxLength: 1024 }),
    confirm: Type.Literal('destroy-all-keys', {
      description: 'Says the caller knows every sealed package becomes unreadable',
    }),
  },
  { additionalProperties: false },
);

export const Zeroization = Type.Object({
  serial: Type.String(),
  zeroizedAt: Type.String(),
  retiredSerials: Type.Array(Type.String(), {
    description: 'Every module serial that used the destroyed keys; re-initialized modules get new ones',
  }),
});

/** The pool's status and the installation's module table as plain JSON (the service's lists are read-only). */
export function modulesStatusOf(
  status: PoolStatus,
  installation: readonly InstallationModule[],
  fleet: Fleet,
) {
  return {
    ...status,
    fleet: {
      leaseSeconds: fleet.leaseSeconds,
      servers: fleet.servers.map((server) => ({ ...server })),
      modules: fleet.modules.map((module) => ({ ...module })),
    },
    inhibitedElsewhere: [...status.inhibitedElsewhere],
    installation: installation.map((module) => ({ ...module })),
    modules: status.modules.map((module) => ({
      ...module,
      keys: { ...module.keys, masterKeyVersions: [...module.keys.masterKeyVersions] },
    })),
  };
}

export function reconciliationOf(report: ReconciliationReport) {
  return {
    ...report,
    moduleLog: { ...report.moduleLog, differences: [...report.moduleLog.differences] },
    meters: report.meters.map((meter) => ({ ...meter, differences: [...meter.differences] })),
    pools: report.pools.map((pool) => ({ ...pool, differences: [...pool.differences] })),
    balanceDifferences: [...report.balanceDifferences],
  };
}
