import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfig } from '../../src/config/index.ts';
import { type RunningIndicia, startIndicia } from '../../src/main.ts';
import type { DialectFixture } from './dialects.ts';

export interface TestServer {
  readonly indicia: RunningIndicia;
  /** Every log line the server wrote so far, parsed. */
  readonly logLines: () => Record<string, unknown>[];
  readonly stop: () => Promise<void>;
}

/** Starts a real server on a free loopback port with a new data directory and database. */
export async function startTestServer(
  fixture: DialectFixture,
  env: Record<string, string> = {},
): Promise<TestServer> {
  const fresh = await fixture.freshDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'indicia-server-'));
  const config = loadConfig({
    env: {
      INDICIA_PORT: '0',
      INDICIA_DATA_DIR: dataDir,
      INDICIA_LOG_LEVEL: 'info',
      // Tests sign in and sign up far more often from 127.0.0.1 than a person would.
      INDICIA_RATE_LIMIT_SCALE: '1000',
      // The daily backup has its own tests; a test server never takes one at 02:00.
      INDICIA_BACKUP_AT: 'off',
      ...(fresh.target.dialect === 'postgres' ? { INDICIA_DATABASE_URL: fresh.target.url } : {}),
      ...env,
    },
    cwd: dataDir,
  });
  const logs = new PassThrough();
  let text = '';
  logs.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  const indicia = await startIndicia(config, { logDestination: logs });
  return {
    indicia,
    logLines: () =>
      text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stop: async () => {
      await indicia.close();
      await fresh.dispose();
    },
  };
}
