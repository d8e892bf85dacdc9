import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuthorityService, createAuthorityService } from '../../src/authority/index.ts';
import { type CustodyService, createCustodyService } from '../../src/custody/index.ts';
import { type MetersService, createMetersService } from '../../src/meters/index.ts';
import type { Store } from '../../src/store/index.ts';
import { type ModulePool, openCryptoModules } from '../../src/vault/index.ts';
import type { DialectFixture } from './dialects.ts';
import { openMigratedStore } from './store-fixture.ts';

export interface MeterInstallation {
  readonly store: Store;
  readonly pool: ModulePool;
  readonly custody: CustodyService;
  readonly authority: AuthorityService;
  readonly meters: MetersService;
  readonly dispose: () => Promise<void>;
}

/** A database of the dialect, software crypto modules, and the services on top, as the server wires them. */
export async function openMeterInstallation(
  fixture: DialectFixture,
  modules = 2,
): Promise<MeterInstallation> {
  const { store, dispose } = await openMigratedStore(fixture);
  const { pool } = await openCryptoModules(
    { backend: 'software', vaultDir: mkdtempSync(join(tmpdir(), 'indicia-meters-')), kek: randomBytes(32) },
    { modules, ringSize: 3, inhibitThreshold: 1 },
  );
  const custody = createCustodyService({ db: store.db, pool });
  const authority = createAuthorityService({ db: store.db, custody });
  const meters = createMetersService({ db: store.db, custody, authority });
  return {
    store,
    pool,
    custody,
    authority,
    meters,
    dispose: async () => {
      await pool.close();
      await dispose();
    },
  };
}
