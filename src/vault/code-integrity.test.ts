import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SoftwareBackend, SoftwareKeystore } from './backend/software/index.ts';
import { type CodeLocation, checkCodeIntegrity, codeLocation, writeCodeManifest } from './code-integrity.ts';
import { CryptoModule } from './crypto-module.ts';

/** A copy of a module's code layout: a few files in each folder the manifest covers. */
function codeTree(extension: '.ts' | '.js'): CodeLocation {
  const root = mkdtempSync(join(tmpdir(), 'indicia-code-'));
  for (const folder of ['vault', 'vault/backend', 'passwords', 'money', 'errors', 'encoding']) {
    mkdirSync(join(root, folder), { recursive: true });
    writeFileSync(join(root, folder, `index${extension}`), `export const folder = '${folder}';\n`);
  }
  writeFileSync(join(root, 'vault', `crypto-module.test${extension}`), 'a test, not module code\n');
  mkdirSync(join(root, 'labels'));
  writeFileSync(join(root, 'labels', `index${extension}`), 'not the module\n');
  return codeLocation(root, extension);
}

describe('code integrity (seed 004: the executable module check-sums are correct)', () => {
  it('passes on the manifest made at build time, and names every changed, missing or added file', () => {
    const location = codeTree('.js');
    try {
      assert.equal(writeCodeManifest(location), 6);
      const passed = checkCodeIntegrity(location);
      assert.equal(passed.passed, true, passed.detail);
      assert.equal(passed.test, 'code-integrity');

      appendFileSync(join(location.root, 'vault', 'backend', 'index.js'), '// a patched line\n');
      rmSync(join(location.root, 'money', 'index.js'));
      writeFileSync(join(location.root, 'passwords', 'extra.js'), 'export {};\n');
      // Tests and code outside the module do not count.
      writeFileSync(join(location.root, 'vault', 'other.test.js'), 'x\n');
      writeFileSync(join(location.root, 'labels', 'more.js'), 'x\n');
      const failed = checkCodeIntegrity(location);
      assert.equal(failed.passed, false);
      assert.match(failed.detail ?? '', /vault\/backend\/index\.js was changed/);
      assert.match(failed.detail ?? '', /money\/index\.js is missing/);
      assert.match(failed.detail ?? '', /passwords\/extra\.js is not in the manifest/);
      assert.doesNotMatch(failed.detail ?? '', /labels|other\.test/);
    } finally {
      rmSync(location.root, { recursive: true, force: true });
    }
  });

  it('fails in a package without its manifest; a development checkout makes one at the first power-up', () => {
    const packaged = codeTree('.js');
    const checkout = codeTree('.ts');
    try {
      const missing = checkCodeIntegrity(packaged);
      assert.equal(missing.passed, false);
      assert.match(missing.detail ?? '', /code-manifest\.json is missing/);
      assert.equal(existsSync(packaged.manifestPath), false);

      const made = checkCodeIntegrity(checkout);
      assert.equal(made.passed, true);
      assert.match(made.detail ?? '', /made one of 6 files/);
      appendFileSync(join(checkout.root, 'vault', 'index.ts'), '// changed after the manifest\n');
      assert.equal(checkCodeIntegrity(checkout).passed, false, 'a stale manifest is not made again');
    } finally {
      rmSync(packaged.root, { recursive: true, force: true });
      rmSync(checkout.root, { recursive: true, force: true });
    }
  });

  it('puts a module whose code was tampered with in the error state at power-up, with the reason', async () => {
    const location = codeTree('.js');
    const vaultDir = mkdtempSync(join(tmpdir(), 'indicia-vault-'));
    try {
      writeCodeManifest(location);
      const backend = () => new SoftwareBackend(new SoftwareKeystore(vaultDir, randomBytes(32)), 1);
      const healthy = new CryptoModule(backend(), { checkCode: () => checkCodeIntegrity(location) });
      assert.equal((await healthy.start()).state, 'uninitialized');
      await healthy.close();

      appendFileSync(join(location.root, 'vault', 'index.js'), 'export const backdoor = true;\n');
      const tampered = new CryptoModule(backend(), { checkCode: () => checkCodeIntegrity(location) });
      const status = await tampered.start();
      assert.equal(status.state, 'error');
      assert.match(
        status.errorReason ?? '',
        /self-test failed: code-integrity \(.*vault\/index\.js was changed/,
      );
      assert.equal(status.lastSelfTest?.results[0]?.passed, false);
      await assert.rejects(tampered.login('crypto-officer', 'an-officer-credential'), /error state/);
      await tampered.close();
    } finally {
      rmSync(location.root, { recursive: true, force: true });
      rmSync(vaultDir, { recursive: true, force: true });
    }
  });

  it('checks the running code against its manifest by default', () => {
    const result = checkCodeIntegrity();
    assert.equal(result.passed, true, result.detail);
  });
});
