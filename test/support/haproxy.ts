// Debian's haproxy in front of `indicia serve` processes, on loopback with its own free ports and
// a scratch folder: installed with apt-get when missing (a suite that needs it fails, never skips),
// health-checking GET /readyz of every backend, started in the foreground and stopped afterwards.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from './free-port.ts';
import { installDebianPackages, runCommand } from './system-packages.ts';

const HAPROXY = '/usr/sbin/haproxy';

/** Health checks every 200 ms; 2 failures (a 503, a refused connection, 2 s without an answer) take a backend out, 2 successes put it back. */
export const CHECK_INTERVAL_MS = 200;
export const CHECK_FALL = 2;

export interface HaproxyBackend {
  readonly name: string;
  readonly port: number;
}

export interface RunningHaproxy {
  /** The frontend the clients use, e.g. http://127.0.0.1:41234. */
  readonly url: string;
  /** The config file it runs (docs/operations.md shows the same settings). */
  readonly configFile: string;
  /** Each backend's state as haproxy's stats page reports it: UP, DOWN, MAINT, … */
  states(): Promise<Record<string, string>>;
  /** Resolves once the backend has the state (bounded). */
  waitFor(name: string, state: 'UP' | 'DOWN', timeoutMs?: number): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

/** The haproxy binary, installed from Debian when missing; throws naming what is missing. */
export function ensureHaproxy(): string {
  if (!existsSync(HAPROXY)) installDebianPackages(['haproxy'], 'the load-balancer tests need haproxy');
  if (!existsSync(HAPROXY))
    throw new Error(
      `the load-balancer tests need haproxy: ${HAPROXY} is missing after apt-get install haproxy`,
    );
  return HAPROXY;
}

/** The haproxy configuration for `backends` on loopback, the one docs/operations.md describes. */
export function haproxyConfig(
  frontendPort: number,
  statsPort: number,
  backends: readonly HaproxyBackend[],
): string {
  return [
    'global',
    '  maxconn 4096',
    // One line per request on stderr (the tests read which server answered what).
    '  log stderr format raw local0',
    '',
    'defaults',
    '  mode http',
    '  log global',
    '  option httplog',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout http-keep-alive 5s',
    // A request whose connection to a server failed goes to another one (never a sent request).
    '  retries 3',
    '  option redispatch 1',
    '',
    'frontend indicia',
    `  bind 127.0.0.1:${frontendPort}`,
    '  default_backend indicia_servers',
    '',
    'backend indicia_servers',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    // A busy server's /readyz may take longer than the interval; it is not down for that.
    '  timeout check 2s',
    // Sessions to a server marked down are left to finish: that is the drain.
    `  default-server inter ${CHECK_INTERVAL_MS}ms fall ${CHECK_FALL} rise 2`,
    ...backends.map(({ name, port }) => `  server ${name} 127.0.0.1:${port} check`),
    '',
    'frontend stats',
    `  bind 127.0.0.1:${statsPort}`,
    '  stats enable',
    '  stats uri /stats',
    '',
  ].join('\n');
}

/** Starts haproxy in front of `backends` (which need not be up yet: they are checked as they come). */
export async function startHaproxy(backends: readonly HaproxyBackend[]): Promise<RunningHaproxy> {
  const binary = ensureHaproxy();
  const folder = mkdtempSync(join(tmpdir(), 'indicia-haproxy-'));
  const frontendPort = await findFreePort();
  const statsPort = await findFreePort();
  const configFile = join(folder, 'haproxy.cfg');
  writeFileSync(configFile, haproxyConfig(frontendPort, statsPort, backends));
  const check = runCommand(binary, ['-c', '-f', configFile]);
  if (check.status !== 0) throw new Error(`haproxy refused its configuration:\n${check.output}`);
  // -db: foreground, no daemon; its log goes to stderr.
  const child: ChildProcess = spawn(binary, ['-db', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${frontendPort}`;

  const states = async (): Promise<Record<string, string>> => {
    const csv = await (await fetch(`http://127.0.0.1:${statsPort}/stats;csv`)).text();
    const result: Record<string, string> = {};
    for (const line of csv.split('\n')) {
      const [proxy, server, ...fields] = line.split(',');
      // Column 18 (status) of haproxy's CSV, counted from pxname.
      if (proxy === 'indicia_servers' && server !== undefined && server !== 'BACKEND')
        result[server] = (fields[15] ?? '').split(' ')[0] ?? '';
    }
    return result;
  };
  const isRunning = (): boolean => child.exitCode === null && child.signalCode === null;
  const stop = async (): Promise<void> => {
    if (isRunning()) {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      if (isRunning()) child.kill('SIGKILL');
    }
    rmSync(folder, { recursive: true, force: true });
  };

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}:\n${output}`);
    try {
      await states();
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`haproxy did not answer on its stats port within 10 s: ${String(error)}\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  return {
    url,
    configFile,
    states,
    async waitFor(name, state, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      let last: string | undefined;
      while (Date.now() < until) {
        last = (await states())[name];
        if (last === state) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(
        `haproxy: backend ${name} is ${last ?? 'unknown'}, not ${state}, after ${timeoutMs} ms`,
      );
    },
    output: () => output,
    stop,
  };
}
