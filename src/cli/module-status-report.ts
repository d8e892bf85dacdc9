import type { Config } from '../config/index.ts';
import { type InspectedModule, inspectModules, listInstallationModules } from '../custody/index.ts';
import { type Fleet, readFleet } from '../fleet/index.ts';
import { installationModuleNumbers, moduleOpener, openMigratedStore } from '../installation/index.ts';
import type { CheckpointDecision, ModuleStatus } from '../vault/index.ts';
import type { CommandIo } from './commands.ts';
import { ownerText } from './installation-module.ts';

function agreementText(decision: CheckpointDecision | null): string {
  if (decision === null) return 'not checked';
  if (decision.kind === 'proceed') return 'database in step';
  if (decision.kind === 'recover')
    return `database ${decision.discardCount} record(s) behind: the next command auto-recovers`;
  return `MISMATCH: ${decision.reason}`;
}

function stateText(status: ModuleStatus): string {
  if (status.state === 'error') return `error — ${status.errorReason ?? 'unknown'}`;
  if (status.state === 'zeroized')
    return `zeroized — its keys were destroyed at ${status.zeroizedAt ?? '?'}; an officer creates new ones (indicia modules initialize)`;
  return status.state;
}

function describeInspected(config: Config, found: InspectedModule): string {
  const status = found.status;
  if (status === null)
    return `module ${found.moduleNumber} (${ownerText(config, found.moduleNumber)})\n  could not be opened: ${found.problem ?? 'unknown'}\n`;
  const keys = status.keys;
  const selfTest = status.lastSelfTest?.results ?? [];
  const failed = selfTest.filter((result) => !result.passed);
  return [
    `${status.serial} (${status.backend}) ${ownerText(config, found.moduleNumber)}`,
    `  state        ${stateText(status)}${found.problem === null ? '' : ` (${found.problem})`}`,
    `  keys         master v${keys.currentMasterKeyVersion ?? '-'} (versions ${keys.masterKeyVersions.join(', ') || 'none'}; minimum ${keys.minimumMasterKeyVersion})`,
    `  checkpoints  ${status.checkpointRingLength} in the module's ring; ${agreementText(found.decision)}`,
    `  inhibited    ${status.inhibited === null ? 'no' : `yes (${status.inhibited.cause}) — ${status.inhibited.reason}`}`,
    `  self-test    ${failed.length === 0 ? 'pass' : 'FAIL'} (${selfTest.map((result) => `${result.test} ${result.passed ? 'ok' : 'FAILED'}`).join(', ')})`,
    '',
  ].join('\n');
}

/** The fleet: every server of the installation and the modules it claims, from their heartbeats. */
export function fleetText(fleet: Fleet): string {
  const lines = [
    `fleet: ${fleet.servers.length} server(s) on this database (a heartbeat older than ${fleet.leaseSeconds} s is not live)`,
  ];
  for (const server of fleet.servers) {
    lines.push(
      `  ${server.serverId} ${server.state.padEnd(12)} ${server.host}${server.port === null ? '' : `:${server.port}`} pid ${server.pid}, data directory ${server.dataDir}`,
      `    heartbeat ${server.heartbeatAt}; ${server.groupsCommitted} group commit(s) of ${server.commandsCommitted} command(s) since ${server.startedAt}; ${server.waitingCommands} waiting`,
    );
    for (const module of fleet.modules.filter((candidate) => candidate.serverId === server.serverId))
      lines.push(
        `    module ${String(module.moduleNumber).padEnd(3)} ${(module.serial ?? '(not started yet)').padEnd(28)} ${module.state.padEnd(10)} ${module.totalOperations} operation(s), ${module.operationsPerSecond.toFixed(1)}/s, load ${module.load.toFixed(2)}`,
      );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `indicia modules status`: every module of the installation (the server's 1..N, the operator's,
 * any other the module table knows), each opened and compared with the database where this
 * process can (an inhibition found is recorded for the whole installation at once), then the
 * installation's count against the threshold.
 */
export async function modulesStatus(config: Config, io: CommandIo): Promise<number> {
  const open = moduleOpener(config);
  const { store } = await openMigratedStore(config);
  try {
    const numbers = await installationModuleNumbers(config, store);
    const inspected = await inspectModules(store.db, numbers, open, 'indicia modules status');
    for (const found of inspected) io.write(describeInspected(config, found));
    const shown = new Set(inspected.flatMap((found) => (found.status === null ? [] : [found.status.serial])));
    const rows = await listInstallationModules(store.db);
    for (const row of rows.filter((candidate) => !shown.has(candidate.serial))) {
      const where = ownerText(config, row.moduleNumber);
      const fate =
        row.zeroizedAt !== null
          ? `retired — the keys it used were zeroized at ${row.zeroizedAt}`
          : row.backend !== config.cryptoBackend
            ? `not opened here: a ${row.backend} module, and this installation is configured for ${config.cryptoBackend}`
            : 'not opened here: its number is not known yet (it registers when its process next opens it)';
      io.write(
        `${row.serial} (${row.backend}) ${where}\n  ${fate}${row.inhibited === null ? '' : `\n  inhibited    yes (${row.inhibited.cause}, recorded) — ${row.inhibited.reason}`}\n\n`,
      );
    }
    const inhibited = rows.filter((row) => row.inhibited !== null && row.zeroizedAt === null);
    const byDatabase = inhibited.some((row) => row.inhibited?.cause === 'database');
    const isStopped = byDatabase || inhibited.length >= config.inhibitThreshold;
    io.write(
      `installation: ${inhibited.length} inhibited module(s) (${inhibited.map((row) => row.serial).join(', ') || 'none'}), threshold ${config.inhibitThreshold}: ${
        isStopped
          ? `every process stops serving${byDatabase ? ' (the database lost what a module committed)' : ''} until the modules are re-anchored`
          : 'the service runs'
      }\n`,
    );
    io.write(fleetText(await readFleet(store.db, store.dialect)));
  } finally {
    await store.close();
  }
  return 0;
}
