import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  MoneyError,
  add,
  compare,
  mills,
  multiply,
  nonNegativeMills,
  shareFloor,
  subtract,
} from './index.ts';

const safeInteger = fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
const moderate = fc.integer({ min: -(2 ** 40), max: 2 ** 40 });

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => error instanceof MoneyError && error.code === code);
}

describe('mills', () => {
  it('accepts every safe integer and nothing else', () => {
    fc.assert(fc.property(safeInteger, (value) => assert.equal(mills(value), value)));
    throwsCode(() => mills(1.5), 'money.not_integer');
    throwsCode(() => mills(Number.NaN), 'money.not_integer');
    throwsCode(() => mills(Number.POSITIVE_INFINITY), 'money.not_integer');
    throwsCode(() => mills(2 ** 53), 'money.overflow');
    assert.ok(Object.is(mills(-0), 0));
  });

  it('refuses negative amounts where they make no sense', () => {
    throwsCode(() => nonNegativeMills(-1), 'money.negative');
    assert.equal(nonNegativeMills(0), 0);
  });

  it('adds and subtracts exactly, as integers do', () => {
    fc.assert(
      fc.property(moderate, moderate, (a, b) => {
        assert.equal(add(mills(a), mills(b)), a + b);
        assert.equal(subtract(mills(add(mills(a), mills(b))), mills(b)), a);
        assert.equal(compare(mills(a), mills(b)), Math.sign(a - b));
      }),
    );
  });

  it('is associative and commutative under addition', () => {
    fc.assert(
      fc.property(moderate, moderate, moderate, (a, b, c) => {
        const [x, y, z] = [mills(a), mills(b), mills(c)];
        assert.equal(add(add(x, y), z), add(x, add(y, z)));
        assert.equal(add(x, y), add(y, x));
      }),
    );
  });

  it('reports overflow instead of losing precision', () => {
    const max = mills(Number.MAX_SAFE_INTEGER);
    throwsCode(() => add(max, mills(1)), 'money.overflow');
    throwsCode(() => subtract(mills(-Number.MAX_SAFE_INTEGER), mills(1)), 'money.overflow');
    throwsCode(() => multiply(max, 2), 'money.overflow');
    fc.assert(
      fc.property(safeInteger, safeInteger, (a, b) => {
        const exact = BigInt(a) + BigInt(b);
        const fits = exact <= BigInt(Number.MAX_SAFE_INTEGER) && exact >= BigInt(-Number.MAX_SAFE_INTEGER);
        if (fits) assert.equal(BigInt(add(mills(a), mills(b))), exact);
        else throwsCode(() => add(mills(a), mills(b)), 'money.overflow');
      }),
    );
  });

  it('multiplies by whole counts only', () => {
    assert.equal(multiply(mills(730), 3), 2190);
    throwsCode(() => multiply(mills(730), 0.5), 'money.not_integer');
  });

  it('takes shares in basis points, rounding down, never above the exact share', () => {
    assert.equal(shareFloor(mills(100_000), 100), 1000);
    assert.equal(shareFloor(mills(199), 100), 1);
    fc.assert(
      fc.property(safeInteger, fc.integer({ min: 0, max: 10_000 }), (a, bp) => {
        const share = shareFloor(mills(a), bp);
        const exactTimes10k = BigInt(a) * BigInt(bp);
        assert.ok(BigInt(share) * 10_000n <= exactTimes10k);
        assert.ok((BigInt(share) + 1n) * 10_000n > exactTimes10k);
      }),
    );
  });
});
