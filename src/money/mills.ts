import { MoneyError } from './money-error.ts';

declare const millsBrand: unique symbol;

/**
 * An amount of money in mills (1/1000 of a dollar) as a safe integer. Only the functions of this
 * module create or combine values of this type, so every amount in the system is an integer
 * within ±(2^53 − 1) mills (about ±9 trillion dollars); anything else is an error, never rounded.
 */
export type Mills = number & { readonly [millsBrand]: true };

export const MILLS_PER_DOLLAR = 1000;
export const MILLS_PER_CENT = 10;
export const ZERO = 0 as Mills;

/**
 * Checks that a number is a safe integer and brands it as mills.
 *
 * @example mills(1500) // $1.500
 */
export function mills(value: number): Mills {
  if (!Number.isInteger(value)) {
    throw new MoneyError('money.not_integer', `An amount in mills must be a whole number; got ${value}.`);
  }
  if (!Number.isSafeInteger(value)) {
    throw new MoneyError('money.overflow', `The amount ${value} mills is too large to represent exactly.`);
  }
  // Normalise −0, which would otherwise print as "-0".
  return (value === 0 ? 0 : value) as Mills;
}

/** Like {@link mills} but also refuses negative amounts (prices, fundings, postage). */
export function nonNegativeMills(value: number): Mills {
  const amount = mills(value);
  if (amount < 0) {
    throw new MoneyError('money.negative', `The amount must not be negative; got ${amount} mills.`);
  }
  return amount;
}

/** Sum with overflow checking. @example add(mills(1), mills(2)) // 3 */
export function add(...amounts: readonly Mills[]): Mills {
  let total = 0;
  for (const amount of amounts) {
    total += amount;
    if (!Number.isSafeInteger(total)) {
      throw new MoneyError('money.overflow', 'The sum is too large to represent exactly.');
    }
  }
  return mills(total);
}

/** Difference with overflow checking. @example subtract(mills(5), mills(2)) // 3 */
export function subtract(minuend: Mills, subtrahend: Mills): Mills {
  const difference = minuend - subtrahend;
  if (!Number.isSafeInteger(difference)) {
    throw new MoneyError('money.overflow', 'The difference is too large to represent exactly.');
  }
  return mills(difference);
}

/** Product of an amount and a whole count (pieces, sheets). @example multiply(mills(730), 3) // 2190 */
export function multiply(amount: Mills, count: number): Mills {
  if (!Number.isInteger(count)) {
    throw new MoneyError('money.not_integer', `A count must be a whole number; got ${count}.`);
  }
  const product = amount * count;
  if (!Number.isSafeInteger(product)) {
    throw new MoneyError('money.overflow', 'The product is too large to represent exactly.');
  }
  return mills(product);
}

/**
 * A share of an amount given in basis points (1/100 of a percent), rounded down to whole mills,
 * so a limit computed from it never exceeds the exact share. @example shareFloor(mills(100_000), 100) // 1000 (1%)
 */
export function shareFloor(amount: Mills, basisPoints: number): Mills {
  if (!Number.isInteger(basisPoints) || basisPoints < 0) {
    throw new MoneyError(
      'money.not_integer',
      `Basis points must be a whole, non-negative number; got ${basisPoints}.`,
    );
  }
  // BigInt keeps the intermediate product exact for amounts near the safe-integer limit.
  const share = (BigInt(amount) * BigInt(basisPoints)) / 10_000n;
  const adjusted = amount < 0 && (BigInt(amount) * BigInt(basisPoints)) % 10_000n !== 0n ? share - 1n : share;
  return mills(Number(adjusted));
}

export function compare(left: Mills, right: Mills): -1 | 0 | 1 {
  return left < right ? -1 : left > right ? 1 : 0;
}
