// `npm run bench -- http [--duration 10] [--connections 64]`: requests per second for GET /healthz
// on loopback, against a real `indicia serve` in its own process (default config, SQLite, logging
// on), measured with autocannon from this process. The baseline for later API figures.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { findFreePort } from '../test/support/free-port.ts';

async function waitUntilHealthy(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with status ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the server did not become healthy within 30 s');
}

function load(url: string, connections: number, duration: number): Promise<autocannon.Result> {
  return autocannon({ url: `${url}/healthz`, connections, duration, pipelining: 1 });
}

export async function runBenchmark(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '64' } },
  });
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const port = await findFreePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'indicia-bench-'));
  const url = `http://127.0.0.1:${port}`;
  const server = spawn(
    process.execPath,
    [
      join(import.meta.dirname, '..', 'bin', 'indicia.js'),
      'serve',
      '--port',
      String(port),
      '--data-dir',
      dataDir,
    ],
    { stdio: 'ignore', env: { ...process.env, INDICIA_PORT: undefined, INDICIA_DATA_DIR: undefined } },
  );
  try {
    await waitUntilHealthy(url, server);
    console.log(`warming up (2 s, ${connections} connections)...`);
    await load(url, connections, 2);
    console.log(`measuring GET /healthz for ${duration} s with ${connections} connections...`);
    const result = await load(url, connections, duration);
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    console.log('');
    console.log(`http: GET /healthz, ${connections} connections, ${duration} s, loopback`);
    console.log(`  machine          ${cpus().length} × ${cpu}, Node.js ${process.version}`);
    console.log(
      `  requests/s       ${Math.round(result.requests.average)} (mean), ${result.requests.p50} (median)`,
    );
    console.log(
      `  latency          p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms`,
    );
    console.log(
      `  total requests   ${result.requests.total}; errors ${result.errors}; non-2xx ${result.non2xx}; timeouts ${result.timeouts}`,
    );
    return result.errors === 0 && result.non2xx === 0 ? 0 : 1;
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    rmSync(dataDir, { recursive: true, force: true });
  }
}
