import { IndiciaError } from '../errors/index.ts';

export type RateErrorCode = 'rate.invalid' | 'rate.not_found' | 'rate.table_invalid';

export class RateError extends IndiciaError<RateErrorCode> {}

/**
 * Ounces a letter-size (8½ × 11 inch) sheet weighs by paper basis weight: 20 lb bond is the
 * common copier paper (75 g/m², about 4.5 g a sheet).
 */
export const SHEET_OUNCES = { '20lb': 0.16, '24lb': 0.19, '28lb': 0.22, '32lb': 0.25 } as const;
export type PaperWeight = keyof typeof SHEET_OUNCES;

/** Ounces of the usual envelopes: a #10 business envelope and a 9 × 12 inch flat envelope. */
export const ENVELOPE_OUNCES = { '#10': 0.2, '9x12': 0.8 } as const;
export type EnvelopeKind = keyof typeof ENVELOPE_OUNCES;

/**
 * The weight calculator of the seeds: sheets × paper weight + the envelope, in ounces (to
 * hundredths). Either paper and envelope are named, or their ounces given.
 */
export function pieceOunces(piece: {
  sheets: number;
  paper?: PaperWeight;
  sheetOunces?: number;
  envelope?: EnvelopeKind;
  envelopeOunces?: number;
}): number {
  if (!Number.isInteger(piece.sheets) || piece.sheets < 0 || piece.sheets > 1000)
    throw new RateError('rate.invalid', 'sheets is a whole number from 0 to 1,000.');
  const sheet = piece.sheetOunces ?? SHEET_OUNCES[piece.paper ?? '20lb'];
  const envelope = piece.envelopeOunces ?? ENVELOPE_OUNCES[piece.envelope ?? '#10'];
  for (const [name, value] of [
    ['sheetOunces', sheet],
    ['envelopeOunces', envelope],
  ] as const)
    if (!Number.isFinite(value) || value < 0 || value > 100)
      throw new RateError('rate.invalid', `${name} is a number of ounces from 0 to 100.`);
  return Math.round((piece.sheets * sheet + envelope) * 100) / 100;
}
