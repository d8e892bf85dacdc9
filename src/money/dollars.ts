import { mills, type Mills } from './mills.ts';
import { MoneyError } from './money-error.ts';

const DECIMAL_DOLLARS = /^(-)?\$?(\d{1,16})(?:\.(\d{1,3}))?$/;

/**
 * Parses a decimal dollar string into mills, exactly. Accepts an optional sign and `$`, and at
 * most three decimals (a mill is the smallest unit); refuses anything it would have to round.
 *
 * @example parseDollars('12.345') // 12345
 * @example parseDollars('$0.73')  // 730
 */
export function parseDollars(text: string): Mills {
  const match = DECIMAL_DOLLARS.exec(text.trim());
  if (match === null) {
    throw new MoneyError(
      'money.invalid_amount',
      `"${text}" is not a dollar amount; write it like 12.34 or 0.005 (at most three decimals).`,
    );
  }
  const [, sign, whole = '0', fraction = ''] = match;
  const magnitude = BigInt(whole) * 1000n + BigInt(fraction.padEnd(3, '0'));
  if (magnitude > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new MoneyError('money.overflow', `"${text}" is too large to represent exactly.`);
  }
  return mills(Number(sign === '-' ? -magnitude : magnitude));
}

/**
 * The canonical decimal form with exactly three decimals; `parseDollars` reads it back unchanged.
 *
 * @example formatDollars(mills(730)) // '0.730'
 */
export function formatDollars(amount: Mills): string {
  const sign = amount < 0 ? '-' : '';
  const magnitude = Math.abs(amount);
  const whole = Math.trunc(magnitude / 1000);
  const fraction = String(magnitude % 1000).padStart(3, '0');
  return `${sign}${whole}.${fraction}`;
}

/**
 * A person-facing form: `$` and cents, with the third decimal only when it is not zero.
 *
 * @example formatUsd(mills(730))  // '$0.73'
 * @example formatUsd(mills(1005)) // '$1.005'
 */
export function formatUsd(amount: Mills): string {
  const canonical = formatDollars(amount);
  const trimmed = canonical.endsWith('0') ? canonical.slice(0, -1) : canonical;
  return trimmed.startsWith('-') ? `-$${trimmed.slice(1)}` : `$${trimmed}`;
}
