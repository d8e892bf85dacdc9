import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.ts';
import type { CustodyService } from '../../src/custody/index.ts';
import { openMigratedStore, withCustody } from '../../src/installation/index.ts';
import type { Mills } from '../../src/money/index.ts';
import { initializeToken } from '../../src/vault/index.ts';
import { runIndicia, serveIndicia } from '../support/cli-process.ts';
import { prepareSoftHsm, randomPin } from '../support/softhsm.ts';

/** Runs commands on an installation's meters in this process, as the server would. */
function withInstallation(dataDir: string, work: (custody: CustodyService) => Promise<void>): Promise<void> {
  return withCustody(loadConfig({ env: { INDICIA_DATA_DIR: dataDir }, cwd: dataDir }), work);
}

describe('indicia modules', () => {
  it('refuses to run before the server created any keys, and creates nothing', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'indicia-modules-')), 'data');
    const result = await runIndicia(['modules', 'selftest', '--data-dir', dataDir]);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /no key-encryption key .*start the server once/);
    assert.equal(existsSync(dataDir), false);
  });

  it('self-tests, reports status, rotates the master key, and re-anchors an inhibited module', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'indicia-modules-')), 'data');
    const server = await serveIndicia(['--data-dir', dataDir, '--port', '0']);
    const officer = /stored only as a hash:\s+([A-Za-z0-9]{20})/.exec(server.output())?.[1];
    assert.equal(await server.stop(), 0);
    assert.ok(officer);

    const selftest = await runIndicia(['modules', 'selftest', '--data-dir', dataDir]);
    assert.equal(selftest.status, 0, selftest.stderr);
    const lines = selftest.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    for (const line of lines)
      assert.match(
        line,
        /^software\s+SW-[0-9A-F]{10}\s+pass\s+code-integrity ok, sha256 ok, hmac-sha256 ok, aes-256-gcm ok, pairwise-ecdsa-p256 ok\s+\[server module [12] of 2\]$/,
      );

    const meterId = '042N52000001';
    await withInstallation(dataDir, async (custody) => {
      await custody.createMeterPackage({
        meterId,
        maxDescendingRegister: 500_000 as Mills,
        licensingZip: null,
      });
      await custody.execute(meterId, [{ operation: { type: 'fund', amount: 10_000 as Mills } }]);
    });

    const wrong = await runIndicia(['modules', 'rotate-master-key', '--data-dir', dataDir], {
      INDICIA_CRYPTO_OFFICER_CREDENTIAL: 'not-the-credential',
    });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /credential is wrong/);

    // Four packages: this meter's, the demo customer's, the certificate authority's and the CA's
    // committed next key (the last three made at the server's first start).
    const rotated = await runIndicia(
      ['modules', 'rotate-master-key', '--retire-old-versions', '--data-dir', dataDir],
      {
        INDICIA_CRYPTO_OFFICER_CREDENTIAL: officer,
      },
    );
    assert.equal(rotated.status, 0, rotated.stderr);
    assert.match(
      rotated.stdout,
      /Master key version 2 created; 4 PSD package\(s\) re-sealed under it; packages below version 2 are refused/,
    );

    const status = await runIndicia(['modules', 'status', '--data-dir', dataDir]);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /master v2 \(versions 1, 2; minimum 2\)/);
    assert.match(status.stdout, /database in step/);

    // Restore last night's backup: module rows and the package as they were before five debits.
    const config = loadConfig({ env: { INDICIA_DATA_DIR: dataDir }, cwd: dataDir });
    const before = await openMigratedStore(config);
    const backup = {
      modules: await before.store.db.selectFrom('crypto_modules').selectAll().execute(),
      packages: await before.store.db.selectFrom('psd_packages').selectAll().execute(),
    };
    await before.store.close();
    await withInstallation(dataDir, async (custody) => {
      for (let index = 0; index < 8; index += 1)
        await custody.execute(meterId, [{ operation: { type: 'debit', amount: 10 as Mills } }]);
    });
    const restore = await openMigratedStore(config);
    await restore.store.db.transaction().execute(async (trx) => {
      for (const row of backup.modules)
        await trx.updateTable('crypto_modules').set(row).where('serial', '=', row.serial).execute();
      for (const row of backup.packages)
        await trx.updateTable('psd_packages').set(row).where('meter_id', '=', row.meter_id).execute();
    });
    await restore.store.close();

    const mismatch = await runIndicia(['modules', 'status', '--data-dir', dataDir]);
    const inhibited = [
      ...mismatch.stdout.matchAll(/(SW-[0-9A-F]{10}) \(software\)[^\n]*\n[^\n]*\n[^\n]*\n[^\n]*MISMATCH/g),
    ].map((match) => match[1] ?? '');
    assert.ok(inhibited.length > 0, mismatch.stdout);
    for (const serial of inhibited) {
      const reanchored = await runIndicia(
        ['modules', 'reanchor', '--serial', serial, '--data-dir', dataDir],
        {
          INDICIA_CRYPTO_OFFICER_CREDENTIAL: officer,
        },
      );
      assert.equal(reanchored.status, 0, reanchored.stderr);
    }
    const healed = await runIndicia(['modules', 'status', '--data-dir', dataDir]);
    assert.doesNotMatch(healed.stdout, /MISMATCH/);
    assert.match(
      healed.stdout,
      /installation: 0 inhibited module\(s\) \(none\), threshold 1: the service runs/,
    );
  });

  it('self-tests PKCS#11 modules on a SoftHSM2 token configured through the environment', async () => {
    const library = prepareSoftHsm();
    const tokenLabel = `indicia-cli-${randomBytes(4).toString('hex')}`;
    const pin = randomPin();
    initializeToken(library, tokenLabel, randomPin(), pin);
    const dataDir = mkdtempSync(join(tmpdir(), 'indicia-modules-'));
    const env = {
      INDICIA_CRYPTO_BACKEND: 'pkcs11',
      INDICIA_PKCS11_LIBRARY: library,
      INDICIA_PKCS11_TOKEN_LABEL: tokenLabel,
      INDICIA_PKCS11_PIN: pin,
      INDICIA_CRYPTO_MODULES: '3',
    };
    const result = await runIndicia(['modules', 'selftest', '--data-dir', dataDir], env);
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    for (const line of lines) assert.match(line, /^pkcs11\s+HSM-[0-9a-f]+-\d\s+pass\s+code-integrity ok, /);
    const badPin = await runIndicia(['modules', 'selftest', '--data-dir', dataDir], {
      ...env,
      INDICIA_PKCS11_PIN: 'wrong-pin',
    });
    assert.equal(badPin.status, 1);
    assert.match(badPin.stderr, /user PIN .* was refused/);
  });
});
