import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generatePassword } from './index.ts';

describe('generated passwords', () => {
  it('generates typeable passwords without look-alike characters', () => {
    const seen = new Set<string>();
    for (let index = 0; index < 200; index += 1) {
      const password = generatePassword();
      assert.match(password, /^[a-km-np-zA-HJ-NP-Z2-9]{20}$/);
      seen.add(password);
    }
    assert.equal(seen.size, 200);
  });
});
