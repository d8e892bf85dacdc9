import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { RingSlots } from '../../src/vault/backend/software/ring-slots.ts';

describe('the software module ring slots', () => {
  let folder = '';
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), 'indicia-ring-slots-'));
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  it('reads back the newest generation, across reopening', () => {
    const slots = new RingSlots(folder, join(folder, 'ring.bin'));
    assert.equal(slots.read(), undefined);
    for (let round = 1; round <= 5; round += 1) slots.write(Buffer.from(`ring ${round}`.repeat(round)));
    slots.close();
    assert.equal(new RingSlots(folder, join(folder, 'ring.bin')).read()?.toString(), 'ring 5'.repeat(5));
  });

  it('falls back to the previous generation when the newest slot was torn by a crash', () => {
    const slots = new RingSlots(folder, join(folder, 'ring.bin'));
    slots.write(Buffer.from('first, long enough to be torn'));
    slots.write(Buffer.from('second, long enough to be torn'));
    slots.close();
    // Generation 2 is in slot a: cut it short, as a write the crash interrupted would leave it.
    const newest = join(folder, 'ring-slot-a.bin');
    writeFileSync(newest, readFileSync(newest).subarray(0, 30));
    const reopened = new RingSlots(folder, join(folder, 'ring.bin'));
    assert.equal(reopened.read()?.toString(), 'first, long enough to be torn');
    // The next write goes over the torn slot, and is the newest.
    reopened.write(Buffer.from('third'));
    assert.equal(new RingSlots(folder, join(folder, 'ring.bin')).read()?.toString(), 'third');
  });

  it('reads a single-file ring an earlier version wrote, and replaces it on the next write', () => {
    const legacy = join(folder, 'ring.bin');
    writeFileSync(legacy, 'legacy ring');
    const slots = new RingSlots(folder, legacy);
    assert.equal(slots.read()?.toString(), 'legacy ring');
    slots.write(Buffer.from('new ring'));
    assert.throws(() => readFileSync(legacy), { code: 'ENOENT' });
    assert.equal(new RingSlots(folder, legacy).read()?.toString(), 'new ring');
  });

  it('forgets everything when removed (zeroization)', () => {
    const slots = new RingSlots(folder, join(folder, 'ring.bin'));
    slots.write(Buffer.from('ring'));
    slots.remove();
    assert.equal(new RingSlots(folder, join(folder, 'ring.bin')).read(), undefined);
  });
});
