import { spawnSync } from 'node:child_process';

/** Runs a command, returning its status and output; never throws for a non-zero exit. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { asUser?: string; cwd?: string } = {},
): { status: number; output: string } {
  const [file, argv] =
    options.asUser !== undefined && process.getuid?.() === 0
      ? ['runuser', ['-u', options.asUser, '--', command, ...args]]
      : [command, [...args]];
  const result = spawnSync(file, argv, { encoding: 'utf8', cwd: options.cwd });
  const output = `${result.stdout}${result.stderr}${result.error?.message ?? ''}`;
  return { status: result.status ?? 1, output };
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

let aptUpdated = false;

/**
 * Installs Debian packages with apt-get when running as root. Throws with a message naming the
 * packages when they are missing and cannot be installed, so a suite fails instead of skipping.
 */
export function installDebianPackages(packages: readonly string[], reason: string): void {
  if (!isRoot()) {
    throw new Error(
      `${reason}: install the Debian package(s) ${packages.join(' ')} (needs root), then rerun.`,
    );
  }
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  Object.assign(process.env, env);
  if (!aptUpdated) {
    const update = runCommand('apt-get', ['update', '-qq']);
    if (update.status !== 0) throw new Error(`${reason}: apt-get update failed:\n${update.output}`);
    aptUpdated = true;
  }
  const install = runCommand('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages]);
  if (install.status !== 0) {
    throw new Error(`${reason}: apt-get install ${packages.join(' ')} failed:\n${install.output}`);
  }
}
