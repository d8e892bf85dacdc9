// A client process for the crash test: `setup` creates and funds a meter; `issue` issues indicia
// as fast as it can and prints each one only after issue() returned (after the commit). The test
// kills it with SIGKILL at random moments. Stdout writes to a pipe are synchronous on Linux, so a
// printed line is a line the parent received.
import 'reflect-metadata';
import { loadConfig } from '../../src/config/index.ts';
import { createAuthorityService } from '../../src/authority/index.ts';
import { createCustodyService } from '../../src/custody/index.ts';
import { openMigratedStore, openModulePool } from '../../src/installation/index.ts';
import { createMetersService } from '../../src/meters/index.ts';
import type { Mills } from '../../src/money/index.ts';

const [mode = '', dataDir = '', meterId = ''] = process.argv.slice(2);
const config = loadConfig({ env: { INDICIA_DATA_DIR: dataDir, INDICIA_CRYPTO_MODULES: '2' }, cwd: dataDir });
const { store } = await openMigratedStore(config);
const { pool } = await openModulePool(config, { initializeIfEmpty: true });
const custody = createCustodyService({ db: store.db, pool });
const authority = createAuthorityService({ db: store.db, custody });
const meters = createMetersService({ db: store.db, custody, authority });

if (mode === 'setup') {
  const meter = await meters.create({
    customerNumber: 9001,
    licensingZip: '10001',
    maxDescendingRegister: 100_000_000 as Mills,
  });
  await meters.fund(meter.meterId, 100_000_000, 'crash-test');
  process.stdout.write(`METER ${meter.meterId}\n`);
  await pool.close();
  await store.close();
} else {
  process.stdout.write('READY\n');
  for (let round = 0; ; round += 1) {
    const pieces = Array.from({ length: round % 3 === 0 ? 3 : 1 }, (_, index) => ({
      postage: (700 + index) as Mills,
      rateCategory: 'FC',
    }));
    for (const issued of await meters.issue(meterId, pieces)) {
      process.stdout.write(`ISSUED ${issued.id} ${issued.data.toString('base64')}\n`);
    }
  }
}
