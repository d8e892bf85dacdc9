import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auditEventsFor } from '../../src/audit/index.ts';
import { createCustodyService } from '../../src/custody/index.ts';
import type { Mills } from '../../src/money/index.ts';
import type { Store } from '../../src/store/index.ts';
import { type GroupRequest, type ModulePool, openCryptoModules } from '../../src/vault/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { openMigratedStore } from '../support/store-fixture.ts';

const mills = (value: number): Mills => value as Mills;

const sqlite = dialectFixtures.find((fixture) => fixture.name === 'sqlite');
if (sqlite === undefined) throw new Error('the SQLite fixture is missing');

// SQLite reads a group's packages before the module pass; another writer (an operator command
// beside the server) can store a newer version meanwhile. Custody passes the group again rather
// than refusing the caller.
describe('a package changed by another writer during the module pass (SQLite)', () => {
  let store: Store;
  let dispose: () => Promise<void>;
  const pools: ModulePool[] = [];
  before(async () => {
    ({ store, dispose } = await openMigratedStore(sqlite));
  });
  after(async () => {
    for (const pool of pools) await pool.close();
    await dispose();
  });

  it('passes the group again from the new version: no refusal, the undone record audited', async () => {
    const vaultDir = mkdtempSync(join(tmpdir(), 'indicia-conflict-'));
    const kek = randomBytes(32);
    const open = async (firstModuleNumber: number): Promise<ModulePool> => {
      const { pool } = await openCryptoModules(
        { backend: 'software', vaultDir, kek },
        { modules: 1, ringSize: 3, inhibitThreshold: 1, firstModuleNumber },
      );
      pools.push(pool);
      return pool;
    };
    const server = createCustodyService({ db: store.db, pool: await open(1) });
    const operatorPool = await open(100);
    const operator = createCustodyService({ db: store.db, pool: operatorPool });
    const meterId = '042N51000077';
    await server.createMeterPackage({
      meterId,
      maxDescendingRegister: mills(100_000),
      licensingZip: '10001',
    });
    await server.execute(meterId, [{ operation: { type: 'fund', amount: mills(50_000) } }]);

    // The operator's module pauses once, after its packages were read, while the server commits.
    const [module] = operatorPool.modules;
    assert.ok(module !== undefined);
    const executeGroup = module.executeGroup.bind(module);
    let passes = 0;
    module.executeGroup = async (request: GroupRequest) => {
      passes += 1;
      if (passes === 1)
        await server.execute(meterId, [{ operation: { type: 'debit', amount: mills(1_000) } }]);
      return executeGroup(request);
    };
    const debited = await operator.execute(meterId, [{ operation: { type: 'debit', amount: mills(250) } }]);

    assert.equal(passes, 2, 'the group ran twice');
    assert.equal(operator.groupCommits().conflictRetries, 1);
    assert.equal(debited.transaction.ascendingRegisterMills, 1_250, 'signed from the newer version');
    const view = await server.readMeter(meterId);
    assert.deepEqual([view.ascendingRegister, view.descendingRegister], [1_250, 48_750]);
    const kinds = (await auditEventsFor(store.db, { meterId })).map((event) => event.kind);
    assert.deepEqual(kinds, [
      'psd.create',
      'psd.fund',
      'psd.debit',
      'vault.auto_recovery_discarded',
      'psd.debit',
    ]);
  });
});
