import type { Mills } from '../money/index.ts';
import { RateError, type RatesService } from '../rates/index.ts';
import type { CustomerPiece } from './customer-issuer.ts';

/** A piece as a request gives it: an amount and rate category, or a rate class and weight (or both). */
export interface PieceBody extends Omit<CustomerPiece, 'postage' | 'rateCategory'> {
  readonly postageMills?: number;
  readonly rateCategory?: string;
  /** A class of the rate tables (GET /v1/rates/tables): the postage is rated. */
  readonly rateClass?: string;
  readonly weightOunces?: number;
  /** For classes priced by zone. */
  readonly destinationZip?: string;
}

/**
 * The postage of a piece: rated from its class, weight and destination; or the amount the customer
 * entered, checked against that rate (it may pay more, never less); or, with no class named, the
 * amount and rate category as given.
 */
export function pricePiece(piece: PieceBody, rates: RatesService, meterZip: string | null): CustomerPiece {
  const { postageMills, rateCategory, rateClass, weightOunces, destinationZip, ...rest } = piece;
  if (rateClass === undefined) {
    if (postageMills === undefined || rateCategory === undefined)
      throw new RateError(
        'rate.invalid',
        'Give each piece postageMills and rateCategory, or rateClass and weightOunces to have it rated.',
      );
    return { ...rest, postage: postageMills as Mills, rateCategory };
  }
  if (weightOunces === undefined)
    throw new RateError('rate.invalid', `Give the weight (weightOunces) to rate ${rateClass}.`);
  const originZip = piece.originZip ?? meterZip ?? undefined;
  const quote = rates.quote({
    classCode: rateClass,
    weightOunces,
    ...(originZip === undefined ? {} : { originZip }),
    ...(destinationZip === undefined ? {} : { destinationZip }),
    ...(piece.mailingDate === undefined ? {} : { mailingDate: piece.mailingDate }),
  });
  if (postageMills !== undefined && postageMills < quote.priceMills)
    throw new RateError(
      'rate.invalid',
      `${(postageMills / 1000).toFixed(3)} dollars is less than the ${quote.className} rate of ${(quote.priceMills / 1000).toFixed(3)} for this piece (table ${quote.table.id}).`,
      { details: { rateMills: quote.priceMills, postageMills } },
    );
  if (rateCategory !== undefined && rateCategory !== quote.rateCategory)
    throw new RateError(
      'rate.invalid',
      `${rateClass} prints rate category ${quote.rateCategory}, not ${rateCategory}.`,
    );
  return { ...rest, postage: (postageMills ?? quote.priceMills) as Mills, rateCategory: quote.rateCategory };
}
