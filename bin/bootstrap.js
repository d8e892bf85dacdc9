// Runtime bootstrap. Plain JavaScript on purpose: it must run on the Node.js a fresh machine
// ships (20), find or install Node.js 24 into the git-ignored .tools/ folder, install the
// project's dependencies when the lockfile changed, and re-run the same command under Node 24.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REQUIRED_NODE_MAJOR = 24;
export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const toolsDir = join(projectRoot, '.tools');
const node24Prefix = join(toolsDir, 'node24');
const node24Binary = join(node24Prefix, 'node_modules', '.bin', 'node');
const node24HeadersRoot = join(
  node24Prefix,
  'node_modules',
  'node',
  'node_modules',
  `node-${process.platform}-${process.arch}`,
);
const node24Headers = join(node24HeadersRoot, 'include', 'node', 'node_api.h');

/** True when this copy runs from inside someone else's node_modules (installed as a package). */
export const isInstalledPackage = projectRoot.split(/[\\/]/).includes('node_modules');

function majorOf(version) {
  return Number(version.replace(/^v/, '').split('.')[0]);
}

function fail(message) {
  process.stderr.write(`indicia: ${message}\n`);
  process.exit(1);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.error) fail(`could not run ${command}: ${result.error.message}`);
  return result.status ?? 1;
}

function installNode24() {
  if (existsSync(node24Binary)) return node24Binary;
  process.stderr.write(
    `indicia: Node.js ${process.versions.node} is older than ${REQUIRED_NODE_MAJOR}; ` +
      `installing node@${REQUIRED_NODE_MAJOR} from the npm registry into .tools/ (once)...\n`,
  );
  mkdirSync(node24Prefix, { recursive: true });
  writeFileSync(join(node24Prefix, 'package.json'), '{ "private": true }\n');
  const status = run(
    'npm',
    [
      'install',
      '--prefix',
      node24Prefix,
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      `node@${REQUIRED_NODE_MAJOR}`,
    ],
    { shell: process.platform === 'win32' },
  );
  if (status !== 0 || !existsSync(node24Binary)) {
    fail(
      `installing node@${REQUIRED_NODE_MAJOR} failed; install Node.js ${REQUIRED_NODE_MAJOR} yourself and retry.`,
    );
  }
  return node24Binary;
}

/** Installs dependencies with `npm ci` when package-lock.json differs from the last install. */
function ensureDependencies(nodeBinDir) {
  if (isInstalledPackage) return;
  const lockFile = join(projectRoot, 'package-lock.json');
  if (!existsSync(lockFile)) return;
  const lockHash = createHash('sha256').update(readFileSync(lockFile)).digest('hex');
  const marker = join(projectRoot, 'node_modules', '.indicia-lock-sha256');
  if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === lockHash) return;
  process.stderr.write('indicia: installing dependencies (npm ci)...\n');
  const env = {
    ...process.env,
    PATH: `${nodeBinDir}${process.platform === 'win32' ? ';' : ':'}${process.env.PATH ?? ''}`,
  };
  const status = run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: projectRoot,
    env,
    shell: process.platform === 'win32',
  });
  if (status !== 0) fail('npm ci failed; see the messages above.');
  writeFileSync(marker, `${lockHash}\n`);
}

/**
 * Makes sure the rest of the command runs on Node.js >= 24 with dependencies installed.
 * On an older Node it installs Node 24, re-runs the current command with it (forwarding
 * SIGINT/SIGTERM so graceful shutdown still works) and exits with its status; the returned
 * promise then never settles. It resolves only when the current process is the right runtime.
 */
export function bootstrap() {
  const current = majorOf(process.version);
  if (current >= REQUIRED_NODE_MAJOR) {
    ensureDependencies(dirname(process.execPath));
    return Promise.resolve();
  }
  const node = installNode24();
  ensureDependencies(dirname(node));
  // Its own process group, so a terminal's Ctrl+C reaches it once (forwarded below), not twice.
  const child = spawn(node, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    detached: true,
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('error', (error) => fail(`could not start Node.js ${REQUIRED_NODE_MAJOR}: ${error.message}`));
  child.on('exit', (code, signal) =>
    process.exit(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1)),
  );
  return new Promise(() => {});
}
