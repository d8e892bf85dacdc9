import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { userInfo } from 'node:os';
import type { Config } from '../config/index.ts';
import { registerModules } from '../custody/index.ts';
import { moduleNumbersOf, readServerId } from '../fleet/index.ts';
import {
  hasDatabase,
  installationModuleNumbers,
  moduleOpener,
  openMigratedStore,
  openModulePool,
  withCustody,
} from '../installation/index.ts';
import { type CommandIo, UsageError, parseSubcommand } from './commands.ts';
import { ownerText, withEveryModuleStopped, withInstallationModule } from './installation-module.ts';
import { modulesStatus } from './module-status-report.ts';

export const MODULES_USAGE = [
  'indicia modules selftest            power-up tests (code check-sums, known answers, pairwise) of every',
  "                                    module of the installation, the operator's included; one line each",
  'indicia modules status              every module: owner, state, keys, checkpoint ring and its agreement',
  '                                    with the database, inhibitions; the installation against the threshold',
  'indicia modules rotate-master-key   add a master key version and re-seal every PSD package under it',
  '        [--retire-old-versions]     then refuse packages sealed under older versions (server stopped)',
  "indicia modules reanchor --serial S after investigating an inhibited module (a server's or the",
  "                                    operator's): trust the database checkpoint and restart its ring",
  '                                    (its process stopped)',
  'indicia modules zeroize --serial S  destroy the keys every module shares and every ring: all sealed',
  '        --destroy-keys              packages become unreadable for good (server stopped)',
  'indicia modules initialize          create new keys after zeroization; prints the new officer credential',
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

export async function officerCredential(config: Config): Promise<string> {
  return config.cryptoOfficerCredential ?? promptHidden('crypto-officer credential: ');
}

async function selftest(config: Config, io: CommandIo): Promise<number> {
  // The KEK (or token) first: without an installation this fails before anything is written.
  const open = moduleOpener(config);
  // The module table names the installation's other modules; a self-test does not create it.
  const store = hasDatabase(config) ? (await openMigratedStore(config)).store : null;
  let failures = 0;
  try {
    for (const moduleNumber of await installationModuleNumbers(config, store)) {
      const module = await open(moduleNumber);
      try {
        const status = await module.start();
        const results = status.lastSelfTest?.results ?? [];
        const passed = status.state !== 'error';
        if (!passed) failures += 1;
        const detail = results
          .map((result) => `${result.test} ${result.passed ? 'ok' : 'FAILED'}`)
          .join(', ');
        const owner = ownerText(config, moduleNumber).split(';')[0] ?? '';
        io.write(
          `${status.backend.padEnd(8)} ${status.serial.padEnd(28)} ${passed ? 'pass' : 'FAIL'}  ${detail}  [${owner}]\n`,
        );
        if (!passed) io.write(`         ${status.errorReason ?? ''}\n`);
      } finally {
        await module.close();
      }
    }
  } finally {
    await store?.close();
  }
  return failures === 0 ? 0 : 1;
}

const requireSerial = (value: string | boolean | undefined, command: string): string => {
  if (typeof value !== 'string' || value === '')
    throw new UsageError(`${command} needs --serial <module serial> (see indicia modules status)`);
  return value;
};

const ZEROIZE_WARNING = [
  'Zeroizing destroys the master, MAC and enrollment keys that every crypto module of this',
  "installation shares (the server's and the operator's), and every module's checkpoint ring.",
  "Every PSD package, the certificate authority's key and every meter become unreadable for good:",
  'no server starts on this database again. It is for decommissioning or a key compromise.',
  'Stop the server first; then run the same command with --destroy-keys.',
].join('\n');

async function zeroize(values: Record<string, string | boolean | undefined>, config: Config, io: CommandIo) {
  const serial = requireSerial(values['serial'], 'zeroize');
  if (values['destroy-keys'] !== true) throw new UsageError(`${ZEROIZE_WARNING}\nNothing was changed.`);
  io.write(`${ZEROIZE_WARNING.split('\n').slice(0, 4).join('\n')}\n`);
  const credential = await officerCredential(config);
  const report = await withInstallationModule(
    config,
    serial,
    'zeroizing',
    (custody) =>
      custody.zeroizeModule(serial, credential, `indicia modules zeroize (${userInfo().username})`),
    { lockAll: true },
  );
  io.write(
    `The keys were zeroized at ${report.zeroizedAt} through module ${serial}; retired serials: ${report.retiredSerials.join(', ')}.\n` +
      'The zeroization is in the audit log. New keys (for a new installation): indicia modules initialize.\n',
  );
  return 0;
}

async function initialize(config: Config, io: CommandIo): Promise<number> {
  const probe = await moduleOpener(config)(1);
  const state = (await probe.start()).state;
  await probe.close();
  if (state !== 'zeroized') {
    throw new UsageError(
      `the modules are ${state}, not zeroized: a new installation creates its keys at the server's first start (indicia serve)`,
    );
  }
  return withEveryModuleStopped(config, 'creating keys', async () => {
    const { store } = await openMigratedStore(config);
    try {
      // In a farm, this data directory's own module numbers (fleet/).
      const { own } = await moduleNumbersOf(store.db, readServerId(config.dataDir));
      const opened = await openModulePool(config, {
        initializeIfEmpty: true,
        initializeZeroized: true,
        ...(own.length > 0 ? { moduleNumbers: own.slice(0, config.cryptoModules) } : {}),
      });
      try {
        await registerModules(store.db, opened.pool.modules);
        io.write(
          `New keys were created; the modules now have new serials: ${opened.pool.modules.map((module) => module.serial).join(', ')}.\n` +
            `The new crypto-officer credential, shown once and stored only as a hash:\n  ${opened.createdOfficerCredential ?? '(none: the keys existed already)'}\n` +
            'Packages sealed under the destroyed keys stay unreadable: start the server on a new database.\n',
        );
      } finally {
        await opened.pool.close();
      }
    } finally {
      await store.close();
    }
    return 0;
  });
}

/** `indicia modules <selftest|status|rotate-master-key|reanchor|zeroize|initialize>` */
export async function modulesCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'selftest':
      return selftest(parseSubcommand(rest, {}, io, { allowPositionals: false }).config, io);
    case 'status':
      return modulesStatus(parseSubcommand(rest, {}, io, { allowPositionals: false }).config, io);
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
      const serial = requireSerial(values['serial'], 'reanchor');
      const credential = await officerCredential(config);
      await withInstallationModule(config, serial, 're-anchoring a module', (custody) =>
        custody.reanchorModule(serial, credential),
      );
      io.write(
        `Module ${serial} now starts from the database's checkpoint; its recorded inhibition is cleared; the re-anchoring is in the audit log.\n`,
      );
      return 0;
    }
    case 'zeroize': {
      const { values, config } = parseSubcommand(
        rest,
        { serial: { type: 'string' }, 'destroy-keys': { type: 'boolean' } },
        io,
        { allowPositionals: false },
      );
      return zeroize(values, config, io);
    }
    case 'initialize':
      return initialize(parseSubcommand(rest, {}, io, { allowPositionals: false }).config, io);
    case undefined:
    default:
      throw new UsageError(`unknown modules command "${sub ?? ''}"; the commands are:\n${MODULES_USAGE}`);
  }
}
