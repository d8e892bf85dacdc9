// A server process for the idempotency crash test: the real server (startIndicia) that kills
// itself with SIGKILL at the points the key names — `crash-before-…` once it has taken its key
// (before any commit), `crash-after-…` once its answer is about to be stored (after the commit).
// Prints `READY <url> <enrollment key fingerprint>` and, on the first start, the demo customer.
import 'reflect-metadata';
import { subscribe } from 'node:diagnostics_channel';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/index.ts';
import { startIndicia } from '../../src/main.ts';

const [dataDir = '', port = '', databaseUrl = ''] = process.argv.slice(2);

// Once per key: its retry, on the next start, runs through.
const killAt = (prefix: string) => (message: unknown) => {
  const { key } = message as { key: string };
  const marker = join(dataDir, `killed-${key}`);
  if (!key.startsWith(prefix) || existsSync(marker)) return;
  writeFileSync(marker, '');
  process.kill(process.pid, 'SIGKILL');
};
subscribe('indicia:idempotency:claimed', killAt('crash-before-'));
subscribe('indicia:idempotency:answering', killAt('crash-after-'));

const config = loadConfig({
  env: {
    INDICIA_PORT: port,
    INDICIA_DATA_DIR: dataDir,
    INDICIA_LOG_LEVEL: 'warn',
    INDICIA_RATE_LIMIT_SCALE: '1000',
    ...(databaseUrl === '' ? {} : { INDICIA_DATABASE_URL: databaseUrl }),
  },
  cwd: dataDir,
});
const indicia = await startIndicia(config, {
  logDestination: new Writable({ write: (_chunk, _encoding, done) => done() }),
});
for (const credential of indicia.demoCredentials)
  if (credential.role === 'customer')
    process.stdout.write(`DEMO ${credential.email} ${credential.password}\n`);
process.stdout.write(`READY ${indicia.url} ${indicia.enrollmentKeyFingerprint}\n`);
