// `indicia serve` in a process of its own, for benchmarks that load it over HTTP from this one.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '../test/support/free-port.ts';

export interface ServedIndicia {
  readonly url: string;
  readonly dataDir: string;
  /** Stops the server (SIGTERM, waiting for it) and removes its data directory. */
  stop(): Promise<void>;
}

async function waitUntilHealthy(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with status ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the server did not become healthy within 60 s');
}

/** Starts `indicia serve` on a free loopback port and a new data directory, once it is healthy. */
export async function serveIndicia(env: Record<string, string> = {}): Promise<ServedIndicia> {
  const port = await findFreePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'indicia-bench-'));
  const url = `http://127.0.0.1:${port}`;
  // BENCH_SERVER_CPU_PROF=<folder>: the server writes a V8 CPU profile there when it stops.
  const profile = process.env['BENCH_SERVER_CPU_PROF'];
  const child = spawn(
    process.execPath,
    [
      ...(profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`]),
      join(import.meta.dirname, '..', 'bin', 'indicia.js'),
      'serve',
      '--port',
      String(port),
      '--data-dir',
      dataDir,
    ],
    {
      stdio: profile === undefined ? 'ignore' : ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, INDICIA_PORT: undefined, INDICIA_DATA_DIR: undefined, ...env },
    },
  );
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      rmSync(dataDir, { recursive: true, force: true });
    })());
  try {
    await waitUntilHealthy(url, child);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, dataDir, stop };
}
