// A farm server process for the fleet test: the real server (startIndicia) on a data directory
// and a shared PostgreSQL database, with the installation's KEK from a file. Prints
// `READY <url> <module numbers>`; given a meter, it then issues for it as fast as it can and prints
// `ISSUED <id>` after each commit, until the test kills it with SIGKILL.
import 'reflect-metadata';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/index.ts';
import { startIndicia } from '../../src/main.ts';
import type { Mills } from '../../src/money/index.ts';

const [dataDir = '', databaseUrl = '', kekFile = '', meterId = ''] = process.argv.slice(2);
const config = loadConfig({
  env: {
    INDICIA_PORT: '0',
    INDICIA_DATA_DIR: dataDir,
    INDICIA_DATABASE_URL: databaseUrl,
    INDICIA_KEK_FILE: kekFile,
    INDICIA_CRYPTO_MODULES: '2',
    INDICIA_LOG_LEVEL: 'warn',
    INDICIA_BACKUP_AT: 'off',
  },
  cwd: dataDir,
});
const indicia = await startIndicia(config, {
  logDestination: new Writable({ write: (_chunk, _encoding, done) => done() }),
});
process.stdout.write(
  `READY ${indicia.url} ${indicia.pool.modules.map((module) => module.moduleNumber).join(',')}\n`,
);
if (meterId !== '') {
  for (;;) {
    for (const issued of await indicia.meters.issue(meterId, [{ postage: 700 as Mills, rateCategory: 'FC' }]))
      process.stdout.write(`ISSUED ${issued.id}\n`);
  }
}
