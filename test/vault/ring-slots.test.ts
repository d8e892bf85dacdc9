import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SoftwareBackend, SoftwareKeystore } from '../../src/vault/index.ts';

describe('the software module checkpoint ring on disk (two slots)', () => {
  let vaultDir = '';
  const kek = randomBytes(32);
  const moduleFolder = (): string => join(vaultDir, 'modules', '1');
  const backend = (): SoftwareBackend => new SoftwareBackend(new SoftwareKeystore(vaultDir, kek), 1);
  beforeEach(() => {
    vaultDir = mkdtempSync(join(tmpdir(), 'indicia-ring-slots-'));
  });
  afterEach(() => rmSync(vaultDir, { recursive: true, force: true }));

  it('reads back the newest generation, across reopening', async () => {
    const module = backend();
    assert.equal(await module.readRing(), undefined);
    for (let round = 1; round <= 5; round += 1)
      await module.writeRing(Buffer.from(`ring ${round}`.repeat(round)));
    await module.close();
    assert.equal((await backend().readRing())?.toString(), 'ring 5'.repeat(5));
  });

  it('falls back to the previous generation when the newest slot was torn by a crash', async () => {
    const module = backend();
    await module.writeRing(Buffer.from('first, long enough to be torn'));
    await module.writeRing(Buffer.from('second, long enough to be torn'));
    await module.close();
    // Generation 2 is in slot a: cut it short, as a write the crash interrupted would leave it.
    const newest = join(moduleFolder(), 'ring-slot-a.bin');
    writeFileSync(newest, readFileSync(newest).subarray(0, 30));
    const reopened = backend();
    assert.equal((await reopened.readRing())?.toString(), 'first, long enough to be torn');
    // The next write goes over the torn slot, and is the newest.
    await reopened.writeRing(Buffer.from('third'));
    await reopened.close();
    assert.equal((await backend().readRing())?.toString(), 'third');
  });

  it('reads a single-file ring an earlier version wrote, and replaces it on the next write', async () => {
    const module = backend();
    const legacy = join(moduleFolder(), 'ring.bin');
    writeFileSync(legacy, 'legacy ring');
    assert.equal((await module.readRing())?.toString(), 'legacy ring');
    await module.writeRing(Buffer.from('new ring'));
    await module.close();
    assert.throws(() => readFileSync(legacy), { code: 'ENOENT' });
    assert.equal((await backend().readRing())?.toString(), 'new ring');
  });
});
