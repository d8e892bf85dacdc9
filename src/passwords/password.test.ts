import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PASSWORD_HASH_PARAMETERS, hashPassword, verifyPassword } from './index.ts';

describe('password hashing', () => {
  it('hashes with argon2id at OWASP parameters in PHC format and verifies', async () => {
    const hash = await hashPassword('correct horse battery staple');
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.deepEqual(await verifyPassword('correct horse battery staple', hash), {
      isMatch: true,
      needsRehash: false,
    });
    assert.equal((await verifyPassword('correct horse battery stapler', hash)).isMatch, false);
  });

  it('salts every hash', async () => {
    assert.notEqual(await hashPassword('same'), await hashPassword('same'));
  });

  it('asks for a rehash when the stored parameters are weaker than today', async () => {
    const weak = await hashPassword('pw', { memoryKiB: 8192, passes: 1, parallelism: 1 });
    assert.deepEqual(await verifyPassword('pw', weak, PASSWORD_HASH_PARAMETERS), {
      isMatch: true,
      needsRehash: true,
    });
  });

  it('never matches a malformed hash', async () => {
    for (const hash of [
      '',
      'plaintext',
      '$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA',
      '$argon2id$v=19$m=x,t=2,p=1$a$b',
    ]) {
      assert.equal((await verifyPassword('pw', hash)).isMatch, false);
    }
  });
});
