import assert from 'node:assert/strict';
import { IndiciaError } from '../../src/errors/index.ts';

/** For assert.rejects/throws: the error is Indicia's own, with this stable code. */
export function refusedWith(code: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof IndiciaError, `expected an IndiciaError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}
