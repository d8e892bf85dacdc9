export {
  type Mills,
  MILLS_PER_CENT,
  MILLS_PER_DOLLAR,
  ZERO,
  add,
  compare,
  mills,
  multiply,
  nonNegativeMills,
  shareFloor,
  subtract,
} from './mills.ts';
export { formatDollars, formatUsd, parseDollars } from './dollars.ts';
export { MoneyError, type MoneyErrorCode } from './money-error.ts';
