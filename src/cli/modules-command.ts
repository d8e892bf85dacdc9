import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Config } from '../config/index.ts';
import { backendSettingsFor, openMigratedStore, withCustody } from '../main.ts';
import { CryptoModule, backendFactory } from '../vault/index.ts';
import { type CommandIo, UsageError, parseSubcommand } from './commands.ts';

export const MODULES_USAGE = [
  "indicia modules selftest            run every configured module's power-up tests; one line per module",
  'indicia modules status              state, keys, checkpoint ring and its agreement with the database',
  'indicia modules rotate-master-key   add a master key version and re-seal every PSD package under it',
  '        [--retire-old-versions]     then refuse packages sealed under older versions (server stopped)',
  'indicia modules reanchor --serial S after investigating an inhibited module: trust the database',
  '                                    checkpoint and restart its ring (server stopped)',
].join('\n');

/** Asks for a secret on the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new UsageError(
      'this command needs the crypto-officer credential: set INDICIA_CRYPTO_OFFICER_CREDENTIAL or run it in a terminal',
    );
  }
  process.stdout.write(question);
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  const reader = createInterface({ input: process.stdin, output: muted, terminal: true });
  return new Promise((resolve) =>
    reader.question('', (answer) => {
      reader.close();
      process.stdout.write('\n');
      resolve(answer);
    }),
  );
}

async function officerCredential(config: Config): Promise<string> {
  return config.cryptoOfficerCredential ?? promptHidden('crypto-officer credential: ');
}

async function selftest(config: Config, io: CommandIo): Promise<number> {
  const createBackend = backendFactory(backendSettingsFor(config, { createKekIfMissing: false }).settings);
  let failures = 0;
  for (let number = 1; number <= config.cryptoModules; number += 1) {
    const module = new CryptoModule(await createBackend(number), { ringSize: config.checkpointRingSize });
    try {
      const status = await module.start();
      const results = status.lastSelfTest?.results ?? [];
      const passed = status.state !== 'error';
      if (!passed) failures += 1;
      const detail = results.map((result) => `${result.test} ${result.passed ? 'ok' : 'FAILED'}`).join(', ');
      io.write(
        `${status.backend.padEnd(8)} ${status.serial.padEnd(28)} ${passed ? 'pass' : 'FAIL'}  ${detail}\n`,
      );
    } finally {
      await module.close();
    }
  }
  return failures === 0 ? 0 : 1;
}

async function status(config: Config, io: CommandIo): Promise<number> {
  const { store } = await openMigratedStore(config);
  const createBackend = backendFactory(backendSettingsFor(config, { createKekIfMissing: false }).settings);
  try {
    for (let number = 1; number <= config.cryptoModules; number += 1) {
      const module = new CryptoModule(await createBackend(number), { ringSize: config.checkpointRingSize });
      try {
        await module.start();
        if (module.state === 'idle') await module.login('crypto-user');
        const moduleStatus = module.status();
        const row = await store.db
          .selectFrom('crypto_modules')
          .select('checkpoint')
          .where('serial', '=', module.serial)
          .executeTakeFirst();
        const databaseCheckpoint =
          row?.checkpoint === undefined || row.checkpoint === null
            ? null
            : Buffer.from(row.checkpoint, 'base64');
        const agreement = module.state === 'user' ? module.checkpointAgreement(databaseCheckpoint) : null;
        const checkpoint =
          agreement === null
            ? 'not checked'
            : agreement.kind === 'proceed'
              ? 'database in step'
              : agreement.kind === 'recover'
                ? `database ${agreement.discardCount} record(s) behind: the next command auto-recovers`
                : `MISMATCH: ${agreement.reason}`;
        const keys = moduleStatus.keys;
        io.write(
          [
            `${moduleStatus.serial} (${moduleStatus.backend})`,
            `  state        ${moduleStatus.state}${moduleStatus.errorReason === null ? '' : ` — ${moduleStatus.errorReason}`}`,
            `  keys         master v${keys.currentMasterKeyVersion ?? '-'} (versions ${keys.masterKeyVersions.join(', ') || 'none'}; minimum ${keys.minimumMasterKeyVersion})`,
            `  checkpoints  ${moduleStatus.checkpointRingLength} in the module's ring; ${checkpoint}`,
            `  inhibited    ${moduleStatus.inhibited === null ? 'no' : `yes — ${moduleStatus.inhibited.reason}`}`,
            '',
          ].join('\n'),
        );
      } finally {
        await module.close();
      }
    }
  } finally {
    await store.close();
  }
  return 0;
}

/** `indicia modules <selftest|status|rotate-master-key|reanchor>` */
export async function modulesCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'selftest':
      return selftest(parseSubcommand(rest, {}, io, { allowPositionals: false }).config, io);
    case 'status':
      return status(parseSubcommand(rest, {}, io, { allowPositionals: false }).config, io);
    case 'rotate-master-key': {
      const { values, config } = parseSubcommand(rest, { 'retire-old-versions': { type: 'boolean' } }, io, {
        allowPositionals: false,
      });
      const credential = await officerCredential(config);
      const report = await withCustody(config, (custody) =>
        custody.rotateMasterKey(credential, { retireOlderVersions: values['retire-old-versions'] === true }),
      );
      io.write(
        `Master key version ${report.version} created; ${report.resealed} PSD package(s) re-sealed under it; ` +
          `packages below version ${report.minimumKeyVersion} are refused.\n`,
      );
      return 0;
    }
    case 'reanchor': {
      const { values, config } = parseSubcommand(rest, { serial: { type: 'string' } }, io, {
        allowPositionals: false,
      });
      const serial = values['serial'];
      if (typeof serial !== 'string' || serial === '')
        throw new UsageError('reanchor needs --serial <module serial> (see indicia modules status)');
      const credential = await officerCredential(config);
      await withCustody(config, (custody) => custody.reanchorModule(serial, credential));
      io.write(
        `Module ${serial} now starts from the database's checkpoint; the re-anchoring is in the audit log.\n`,
      );
      return 0;
    }
    case undefined:
    default:
      throw new UsageError(`unknown modules command "${sub ?? ''}"; the commands are:\n${MODULES_USAGE}`);
  }
}
