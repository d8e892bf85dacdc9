import { US_STATE_CODES, ZIP_PATTERN } from '../encoding/index.ts';
import { AccountError } from './account-error.ts';

export interface PostalAddress {
  readonly line1: string;
  readonly line2?: string | undefined;
  readonly city: string;
  /** Two-letter USPS state or territory code. */
  readonly state: string;
  /** ZIP or ZIP+4. */
  readonly zip: string;
}

/** What a customer's sign-up collects: the licence application's fields (seed 004, USPS form 3601-A). */
export interface RegistrationInput {
  readonly email: string;
  readonly password: string;
  readonly name: string;
  readonly company?: string | undefined;
  readonly phone: string;
  /** Where the computer that prints postage is: never a PO Box. */
  readonly physicalAddress: PostalAddress;
  /** Mailing and billing addresses default to the physical address. */
  readonly mailingAddress?: PostalAddress | undefined;
  readonly billingAddress?: PostalAddress | undefined;
  readonly licensingZip: string;
  /** The post office where large mailings will be deposited. */
  readonly postOffice: { readonly name: string; readonly state: string; readonly zip: string };
  /** A dedicated meter of one's own, or printing from the vendor's pool against a prefunded balance. */
  readonly meterMode: 'dedicated' | 'pooled';
  /** A meter number the customer held before, if any. */
  readonly previousMeterNumber?: string | undefined;
}

/** The stored profile: everything but e-mail, password, name, company and phone. */
export interface AccountProfile {
  readonly physicalAddress: PostalAddress;
  readonly mailingAddress: PostalAddress;
  readonly billingAddress: PostalAddress;
  readonly licensingZip: string;
  readonly postOffice: { readonly name: string; readonly state: string; readonly zip: string };
  readonly previousMeterNumber: string | null;
  /** Which addresses are PO Boxes (the mailing address may be one; the physical one may not). */
  readonly poBoxes: readonly ('mailing' | 'billing')[];
}

const STATES = US_STATE_CODES;
const ZIP = ZIP_PATTERN;
const EMAIL = /^[^\s@<>()[\],;:"]+@[^\s@<>()[\],;:"]+\.[^\s@<>()[\],;:"]+$/;
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;

/**
 * Seed 004's PO Box references: "PO Box, PO, P.O., P.O. Box, Box, or Post Office Box" — at the
 * start of an address line, or after a comma — plus the common spellings (POB, Post Office Drawer).
 */
const PO_BOX =
  /(^|[\s,#])(p\.?\s*o\.?\s*b(ox)?\.?|p\.?\s*o\.?|post\s+office(\s+(box|drawer))?|box|pob|drawer)\s*#?\s*\d+/i;

/** Whether an address line names a PO Box rather than a street address. */
export function isPoBox(line: string): boolean {
  return PO_BOX.test(line.trim());
}

function refuse(field: string, message: string): never {
  throw new AccountError('account.invalid', message, { details: { field } });
}

function checkAddress(field: string, address: PostalAddress): PostalAddress {
  const line1 = address.line1.trim();
  const line2 = address.line2?.trim() ?? '';
  const city = address.city.trim();
  const state = address.state.trim().toUpperCase();
  const zip = address.zip.trim();
  if (line1 === '') refuse(`${field}.line1`, `The ${field}'s first line is empty.`);
  if (city === '') refuse(`${field}.city`, `The ${field}'s city is empty.`);
  if (!STATES.has(state)) refuse(`${field}.state`, `"${state}" is not a USPS state code (like NY or CA).`);
  if (!ZIP.test(zip))
    refuse(`${field}.zip`, `"${zip}" is not a ZIP code: 5 digits, or ZIP+4 like 10001-1234.`);
  return { line1, ...(line2 === '' ? {} : { line2 }), city, state, zip };
}

/** A lower-cased, trimmed e-mail address, or a refusal saying what is wrong with it. */
export function normalizeEmail(email: string): string {
  const normalized = email.trim().toLowerCase();
  if (normalized.length > 254 || !EMAIL.test(normalized)) {
    refuse('email', `"${email.trim().slice(0, 80)}" is not an e-mail address.`);
  }
  return normalized;
}

/** NIST SP 800-63B style: length counts, no composition rules, not the e-mail address. */
export function checkPassword(password: string, email: string): void {
  // Code points, not UTF-16 units: an emoji counts once.
  const length = Array.from(password).length;
  if (length < PASSWORD_MIN_LENGTH)
    refuse(
      'password',
      `A password needs at least ${PASSWORD_MIN_LENGTH} characters; a passphrase works well.`,
    );
  if (length > PASSWORD_MAX_LENGTH)
    refuse('password', `A password may have at most ${PASSWORD_MAX_LENGTH} characters.`);
  if (password.trim().toLowerCase() === email.trim().toLowerCase())
    refuse('password', 'The password must not be the e-mail address.');
}

/** Checks a sign-up and returns the normalized account fields and profile; refuses with the field at fault. */
export function checkRegistration(input: RegistrationInput): {
  email: string;
  name: string;
  company: string | null;
  phone: string;
  profile: AccountProfile;
} {
  const email = normalizeEmail(input.email);
  checkPassword(input.password, email);
  const name = input.name.trim();
  if (name === '') refuse('name', 'Give the name the licence is for.');
  const phone = input.phone.trim();
  if (!/^\+?[0-9 ().-]{7,20}$/.test(phone))
    refuse('phone', `"${phone.slice(0, 40)}" is not a phone number (digits, spaces, + ( ) . - only).`);
  const physicalAddress = checkAddress('physicalAddress', input.physicalAddress);
  if (
    isPoBox(physicalAddress.line1) ||
    (physicalAddress.line2 !== undefined && isPoBox(physicalAddress.line2))
  )
    refuse(
      'physicalAddress',
      'The physical address is where the printing computer is, so it cannot be a PO Box; give the street address (a PO Box may be the mailing address).',
    );
  const mailingAddress = checkAddress('mailingAddress', input.mailingAddress ?? physicalAddress);
  const billingAddress = checkAddress('billingAddress', input.billingAddress ?? physicalAddress);
  if (!/^\d{5}$/.test(input.licensingZip.trim()))
    refuse('licensingZip', 'The licensing ZIP is the 5-digit ZIP of the physical address’s post office.');
  const postOfficeName = input.postOffice.name.trim();
  if (postOfficeName === '')
    refuse('postOffice.name', 'Name the post office where mailings will be deposited.');
  const postOfficeState = input.postOffice.state.trim().toUpperCase();
  if (!STATES.has(postOfficeState))
    refuse('postOffice.state', `"${postOfficeState}" is not a USPS state code.`);
  const postOfficeZip = input.postOffice.zip.trim();
  if (!ZIP.test(postOfficeZip)) refuse('postOffice.zip', `"${postOfficeZip}" is not a ZIP code.`);
  const poBoxes: ('mailing' | 'billing')[] = [];
  for (const [kind, address] of [
    ['mailing', mailingAddress],
    ['billing', billingAddress],
  ] as const) {
    if (isPoBox(address.line1) || (address.line2 !== undefined && isPoBox(address.line2))) poBoxes.push(kind);
  }
  const company = input.company?.trim() ?? '';
  const previous = input.previousMeterNumber?.trim() ?? '';
  return {
    email,
    name,
    company: company === '' ? null : company,
    phone,
    profile: {
      physicalAddress,
      mailingAddress,
      billingAddress,
      licensingZip: input.licensingZip.trim(),
      postOffice: { name: postOfficeName, state: postOfficeState, zip: postOfficeZip },
      previousMeterNumber: previous === '' ? null : previous,
      poBoxes,
    },
  };
}
