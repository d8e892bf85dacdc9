import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { timeOrderedUuid } from './time-ordered-id.ts';

describe('timeOrderedUuid', () => {
  it('makes RFC 9562 version-7 UUIDs that sort in the order they were made', () => {
    const ids = Array.from({ length: 5_000 }, () => timeOrderedUuid());
    for (const id of ids)
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('carries the millisecond, and keeps order past 4,096 ids in one millisecond or a clock step back', () => {
    const at = Date.now() + 3_600_000;
    const first = timeOrderedUuid(at + 10_000);
    assert.equal(Number.parseInt(first.replaceAll('-', '').slice(0, 12), 16), at + 10_000);
    const burst = Array.from({ length: 5_000 }, () => timeOrderedUuid(at));
    assert.deepEqual([...burst].sort(), burst);
    assert.ok((burst[0] ?? '') > first, 'a clock that stepped back does not reorder ids');
  });
});
