// The project's tasks, run on Node.js 24 after bin/bootstrap.js: test (type check, lint, format
// check, then every test suite with a private PostgreSQL cluster), typecheck, lint, format, bench.
import { spawn } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startPostgresCluster, TEST_POSTGRES_URL_ENV } from '../test/support/postgres-cluster.ts';
import { ensureAutoFailoverInstalled } from '../test/support/pg-auto-failover.ts';
import { ensureSoftHsmInstalled } from '../test/support/softhsm.ts';
import { ensureLabelReadersInstalled } from '../test/support/zxing-reader.ts';
import { postgresWithPgBackRest } from '../test/support/archiving-postgres.ts';
import { codeLocation, writeCodeManifest } from '../src/vault/index.ts';

const root = join(import.meta.dirname, '..');
const bin = (path: string): string => join(root, 'node_modules', path);

function run(
  label: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  options: { isLastOutput?: boolean } = {},
): Promise<boolean> {
  const startedAt = Date.now();
  console.log(`\n▶ ${label}`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
    child.on('error', (error) => {
      console.error(`${label}: ${error.message}`);
      resolve(false);
    });
    child.on('exit', (code) => {
      const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
      // After the tests, the test runner's own summary stays the last thing printed.
      if (options.isLastOutput !== true) console.log(`${code === 0 ? '✔' : '✖'} ${label} (${seconds} s)`);
      resolve(code === 0);
    });
  });
}

const typecheck = (): Promise<boolean> =>
  run('type check (tsc)', [bin('typescript/bin/tsc'), '-p', 'tsconfig.json']);
const lint = (): Promise<boolean> =>
  run('lint (eslint)', [bin('eslint/bin/eslint.js'), '--max-warnings=0', '.']);
const formatCheck = (): Promise<boolean> =>
  run('format check (prettier)', [bin('prettier/bin/prettier.cjs'), '--check', '--log-level=warn', '.']);

/**
 * Compiles src/ to dist/ for the published package (Node will not strip types inside node_modules),
 * then writes the crypto module's code manifest, which its power-up self-test checks.
 */
async function build(): Promise<boolean> {
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  const isCompiled = await run('build (tsc -p tsconfig.build.json)', [
    bin('typescript/bin/tsc'),
    '-p',
    'tsconfig.build.json',
  ]);
  if (!isCompiled) return false;
  const files = writeCodeManifest(codeLocation(join(root, 'dist'), '.js'));
  console.log(`  crypto module code manifest: ${files} files in dist/vault/code-manifest.json`);
  return true;
}

/**
 * A development checkout's manifest (src/vault/code-manifest.json, git-ignored), made again before
 * the code runs (`npm start`, `npm test`): the code a developer is about to run is the code to check.
 */
function developmentManifest(): boolean {
  const files = writeCodeManifest(codeLocation(join(root, 'src'), '.ts'));
  console.log(`\n▶ crypto module code manifest: ${files} files in src/vault/code-manifest.json`);
  return true;
}

/** Every test file: unit tests beside the code, integration tests under test/. */
function testFiles(): string[] {
  return ['src/**/*.test.ts', 'test/**/*.test.ts'];
}

async function runTests(patterns: readonly string[]): Promise<boolean> {
  developmentManifest();
  // SoftHSM2, ZXingReader and poppler are installed once here, not by test processes that could
  // race for the dpkg lock.
  ensureSoftHsmInstalled();
  ensureLabelReadersInstalled();
  postgresWithPgBackRest();
  ensureAutoFailoverInstalled();
  // One PostgreSQL cluster for the whole run; each storage test makes its own database in it.
  console.log('\n▶ starting a private PostgreSQL cluster for the storage contract suite');
  const cluster = await startPostgresCluster();
  const stop = (): void => cluster.stop();
  process.once('SIGINT', () => {
    stop();
    process.exit(130);
  });
  process.once('SIGTERM', () => {
    stop();
    process.exit(143);
  });
  console.log(`  PostgreSQL is up at ${cluster.url}`);
  try {
    return await run(
      'tests (node --test)',
      ['--test', '--test-reporter=spec', '--test-timeout=120000', ...patterns],
      { ...process.env, [TEST_POSTGRES_URL_ENV]: cluster.url },
      { isLastOutput: true },
    );
  } finally {
    stop();
  }
}

async function test(args: readonly string[]): Promise<number> {
  if (args.length > 0) return (await runTests(args)) ? 0 : 1;
  const checks = [await typecheck(), await lint(), await formatCheck()];
  const testsPassed = await runTests(testFiles());
  return checks.every(Boolean) && testsPassed ? 0 : 1;
}

async function bench(args: readonly string[]): Promise<number> {
  const available = readdirSync(join(root, 'bench'))
    .filter((file) => file.endsWith('.ts') && !file.startsWith('_'))
    .map((file) => file.slice(0, -3));
  const [name, ...rest] = args;
  if (name === undefined || !available.includes(name)) {
    console.error(`usage: npm run bench -- <name> [options]; benchmarks: ${available.join(', ')}`);
    return 2;
  }
  const { runBenchmark } = (await import(`../bench/${name}.ts`)) as {
    runBenchmark: (args: readonly string[]) => Promise<number>;
  };
  return runBenchmark(rest);
}

/** Runs one task by name and returns the process exit status. */
export async function runTask(name: string, args: readonly string[]): Promise<number> {
  switch (name) {
    case 'test':
      return test(args);
    case 'typecheck':
      return (await typecheck()) ? 0 : 1;
    case 'lint':
      return (await lint()) ? 0 : 1;
    case 'format':
      return (await run('format (prettier --write)', [
        bin('prettier/bin/prettier.cjs'),
        '--write',
        '--log-level=warn',
        '.',
      ]))
        ? 0
        : 1;
    case 'bench':
      return bench(args);
    case 'build':
      return (await build()) ? 0 : 1;
    case 'code-manifest':
      return developmentManifest() ? 0 : 1;
    default:
      console.error(
        `unknown task ${name}; tasks: test, typecheck, lint, format, bench, build, code-manifest`,
      );
      return 2;
  }
}
