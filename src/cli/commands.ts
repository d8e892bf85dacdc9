import { parseArgs } from 'node:util';
import { type Config, type ConfigSources, loadConfig, settings } from '../config/index.ts';
import { type RunningIndicia, VERSION, startIndicia } from '../main.ts';
import { openMigratedStore } from '../installation/index.ts';
import { printStartBanner } from './start-banner.ts';

/** A mistake in how the command was called (unknown flag, stray argument). */
export class UsageError extends Error {}

const settingOptions = Object.fromEntries(
  settings
    .filter((setting) => setting.flag !== undefined)
    .map((setting) => [(setting.flag ?? '').slice(2), { type: 'string' as const }]),
);

/** Parses the flags shared by `serve` and `migrate` into a validated configuration. */
export function configFromArguments(args: readonly string[], env: ConfigSources['env'], cwd: string): Config {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: { ...settingOptions, config: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError(
      `${(error as Error).message.split('\n')[0] ?? 'invalid arguments'} (see indicia --help)`,
    );
  }
  const values = parsed.values as Record<string, string | undefined>;
  const overrides: Partial<Record<keyof Config, unknown>> = {};
  for (const setting of settings) {
    if (setting.flag === undefined) continue;
    const value = values[setting.flag.slice(2)];
    if (value !== undefined) overrides[setting.key] = value;
  }
  return loadConfig({ env, cwd, overrides, configFile: values['config'] });
}

/**
 * Splits a subcommand's arguments into its own options (and positionals) and the server's
 * settings flags (from the settings table, plus --config), which become the configuration.
 */
export function parseSubcommand(
  args: readonly string[],
  options: Record<string, { type: 'string' | 'boolean' }>,
  io: CommandIo,
  { allowPositionals = true }: { allowPositionals?: boolean } = {},
): { positionals: string[]; values: Record<string, string | boolean | undefined>; config: Config } {
  const settingFlags = new Set([
    ...settings.flatMap((setting) => (setting.flag === undefined ? [] : [setting.flag])),
    '--config',
  ]);
  const mine: string[] = [];
  const shared: string[] = [];
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] ?? '';
    const name = arg.split('=')[0] ?? '';
    const isSetting = settingFlags.has(name);
    const target = isSetting ? shared : mine;
    target.push(arg);
    const takesValue = isSetting || options[name.slice(2)]?.type === 'string';
    if (takesValue && !arg.includes('=')) target.push(args[(index += 1)] ?? '');
  }
  let parsed;
  try {
    parsed = parseArgs({ args: mine, options, strict: true, allowPositionals });
  } catch (error) {
    throw new UsageError(
      `${(error as Error).message.split('\n')[0] ?? 'invalid arguments'} (see indicia --help)`,
    );
  }
  return {
    positionals: parsed.positionals,
    values: parsed.values,
    config: configFromArguments(shared, io.env, io.cwd),
  };
}

export interface CommandIo {
  readonly env: ConfigSources['env'];
  readonly cwd: string;
  readonly write: (text: string) => void;
}

/**
 * `indicia serve`: starts the server and resolves when it has shut down after a signal. Signal
 * handlers are installed before anything starts, so a signal during start-up or right after the
 * URL is printed still leads to a graceful shutdown.
 */
export async function serveCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const config = configFromArguments(args, io.env, io.cwd);
  let firstSignalAt: number | undefined;
  let signalled: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => (signalled = resolve));
  const onSignal = (signal: NodeJS.Signals): void => {
    // A signal sent to a whole process group (systemd, pkill -f, the bootstrap forwarding a
    // terminal's Ctrl+C) arrives more than once; only a repeat after a pause means "force".
    if (firstSignalAt !== undefined && Date.now() - firstSignalAt < 1000) return;
    if (firstSignalAt !== undefined) {
      io.write(`indicia: second ${signal}; exiting without waiting.\n`);
      process.exit(1);
    }
    firstSignalAt = Date.now();
    io.write(`indicia: ${signal} received; shutting down gracefully (send it again to force).\n`);
    signalled();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const running: RunningIndicia = await startIndicia(config);
    printStartBanner(running, io.write);
    await stopRequested;
    await running.close();
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `indicia migrate`: applies pending migrations and reports them. */
export async function migrateCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const config = configFromArguments(args, io.env, io.cwd);
  const { store, migrations } = await openMigratedStore(config);
  await store.close();
  const applied =
    migrations.applied.length === 0 ? 'none (already up to date)' : migrations.applied.join(', ');
  io.write(
    `Database ${store.location} (${store.dialect}) is at the latest schema. Applied now: ${applied}.\n`,
  );
  return 0;
}

export function versionCommand(io: CommandIo): number {
  io.write(`${VERSION}\n`);
  return 0;
}
