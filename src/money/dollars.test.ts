import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MoneyError, formatDollars, formatUsd, mills, parseDollars } from './index.ts';

describe('dollar strings', () => {
  it('parses decimal dollars exactly', () => {
    assert.equal(parseDollars('12.345'), 12345);
    assert.equal(parseDollars('$0.73'), 730);
    assert.equal(parseDollars('0.005'), 5);
    assert.equal(parseDollars('-1'), -1000);
    assert.equal(parseDollars(' 500 '), 500_000);
  });

  it('refuses what it would have to round or guess', () => {
    for (const text of ['1.2345', '', '.5', '1.', '1,000.00', '1e3', 'NaN', '--1', '0x10', '１']) {
      assert.throws(
        () => parseDollars(text),
        (error: unknown) => error instanceof MoneyError && error.code === 'money.invalid_amount',
        text,
      );
    }
    assert.throws(
      () => parseDollars('9999999999999999.999'),
      (error: unknown) => error instanceof MoneyError && error.code === 'money.overflow',
    );
  });

  it('formats canonically and person-facing', () => {
    assert.equal(formatDollars(mills(730)), '0.730');
    assert.equal(formatDollars(mills(-5)), '-0.005');
    assert.equal(formatUsd(mills(730)), '$0.73');
    assert.equal(formatUsd(mills(1005)), '$1.005');
    assert.equal(formatUsd(mills(-2500)), '-$2.50');
  });

  it('round-trips every safe amount through both forms', () => {
    fc.assert(
      fc.property(fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), (value) => {
        const amount = mills(value);
        assert.equal(parseDollars(formatDollars(amount)), amount);
        assert.equal(parseDollars(formatUsd(amount).replace('-$', '-')), amount);
      }),
    );
  });
});
