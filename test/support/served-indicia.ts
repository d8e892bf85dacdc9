// `indicia serve` as a child process on a given database, port and data directory, that a test
// starts, stops with SIGTERM, kills with SIGKILL and starts again — the load-balancer tests' servers.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type ServingProcess, serveIndicia } from './cli-process.ts';
import { CHECK_FALL, CHECK_INTERVAL_MS } from './haproxy.ts';

/**
 * Readiness fails this long before the listener closes: haproxy's checks (every
 * CHECK_INTERVAL_MS, CHECK_FALL failures) take the server out within it.
 */
export const DRAIN_MS = CHECK_INTERVAL_MS * (CHECK_FALL + 2);

export interface ServedIndicia {
  readonly name: string;
  readonly port: number;
  /** Its own URL (not through the balancer). */
  readonly url: string;
  readonly dataDir: string;
  readonly isRunning: boolean;
  start(): Promise<void>;
  /** SIGTERM, and the exit status once it has drained and stopped. */
  stop(): Promise<number | null>;
  /** SIGKILL: requests in flight are lost. */
  kill(): Promise<void>;
  /** Everything every run of it printed. */
  output(): string;
}

/** A server on `databaseUrl` (PostgreSQL; unset: SQLite in `dataDir`), not started yet. */
export function servedIndicia(
  name: string,
  options: { port: number; dataDir: string; databaseUrl?: string; env?: Record<string, string> },
): ServedIndicia {
  let running: ServingProcess | undefined;
  let output = '';
  const url = `http://127.0.0.1:${options.port}`;
  const exited = (process: ServingProcess): Promise<void> =>
    process.child.exitCode !== null || process.child.signalCode !== null
      ? Promise.resolve()
      : new Promise((resolve) => process.child.once('exit', () => resolve()));
  return {
    name,
    port: options.port,
    url,
    dataDir: options.dataDir,
    get isRunning() {
      return running !== undefined && running.child.exitCode === null && running.child.signalCode === null;
    },
    async start() {
      if (this.isRunning) throw new Error(`server ${name} is running already`);
      running = await serveIndicia(['--port', String(options.port), '--data-dir', options.dataDir], {
        INDICIA_LOG_LEVEL: 'warn',
        INDICIA_RATE_LIMIT_PER_MINUTE: '0',
        INDICIA_SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
        ...(options.databaseUrl === undefined ? {} : { INDICIA_DATABASE_URL: options.databaseUrl }),
        ...options.env,
      });
      const started = running;
      started.child.once('exit', () => (output += started.output()));
    },
    async stop() {
      const current = running;
      if (current === undefined) return null;
      running = undefined;
      return current.stop();
    },
    async kill() {
      const current = running;
      if (current === undefined) return;
      running = undefined;
      current.child.kill('SIGKILL');
      await exited(current);
    },
    output: () => output + (running?.output() ?? ''),
  };
}

/** The e-mail verification token mailed to `email`, read from a data directory's outbox (no SMTP relay). */
export function mailedToken(dataDir: string, email: string): string | undefined {
  const outbox = join(dataDir, 'outbox');
  for (const name of readdirSync(outbox)) {
    // Quoted-printable: soft line breaks and "=" written as =3D.
    const text = readFileSync(join(outbox, name), 'utf8')
      .replace(/=\r?\n/g, '')
      .replace(/=3D/g, '=');
    if (text.includes(`To: ${email}`)) return /token=([A-Za-z0-9_-]{43})/.exec(text)?.[1];
  }
  return undefined;
}
