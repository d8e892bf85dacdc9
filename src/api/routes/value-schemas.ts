import { type TProperties, Type } from 'typebox';

const Base64 = (description: string) =>
  Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9+/]*={0,2}$', description });

export const EnrollmentBody = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 100,
      description: 'What the device is',
      examples: ['front desk PC'],
    }),
    ephemeralPublicKey: Base64("The device's ephemeral ECDH P-256 public key (SPKI DER, base64)"),
    clientChallenge: Base64('32 random bytes (base64): the module proves itself by MACing them'),
    iv: Base64('12-byte AES-GCM IV (base64)'),
    encryptedHmk: Base64('AES-256-GCM ciphertext and tag of the 32-byte HMK (base64)'),
  },
  { additionalProperties: false },
);

export const Registers = Type.Object({
  ascendingRegisterMills: Type.Integer(),
  descendingRegisterMills: Type.Integer(),
});

export const Receipt = Type.Object(
  {
    id: Type.String({ examples: ['rcpt_8c2f…'] }),
    body: Type.Object({
      receiptId: Type.String(),
      kind: Type.String({ examples: ['indicia'] }),
      customerNumber: Type.Integer(),
      meterId: Type.String(),
      sequence: Type.Integer({ description: "The meter package's sequence after the request" }),
      at: Type.String({ format: 'date-time' }),
      amountMills: Type.Integer(),
      pieces: Type.Integer(),
      ascendingRegisterMills: Type.Integer(),
      descendingRegisterMills: Type.Integer(),
      reference: Type.String(),
    }),
    signature: Type.String({
      description:
        'base64 signature by the meter key over "indicia/receipt/v1\\n" followed by the canonical JSON of body (sorted keys); ECDSA P-256 as r‖s',
    }),
    certificateSerial: Type.String({ description: 'GET /v1/certificates/{serial} verifies it' }),
  },
  { $id: 'Receipt' },
);

export const FundsBody = Type.Object(
  {
    amountMills: Type.Integer({
      minimum: 1,
      maximum: 100_000_000_000,
      description: 'Postage to add, in mills',
    }),
    paymentMethod: Type.Object(
      {
        type: Type.Literal('card'),
        number: Type.String({ maxLength: 23, examples: ['4242 4242 4242 4242'] }),
        expMonth: Type.Integer({ minimum: 1, maximum: 12 }),
        expYear: Type.Integer({ minimum: 2000, maximum: 2200 }),
        cvc: Type.String({ maxLength: 4 }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const Line = (description: string, isRequired = true) =>
  Type.String({
    minLength: isRequired ? 1 : 0,
    maxLength: 40,
    pattern: '^[^\\u0000-\\u001f\\u007f]*$',
    description,
  });

/** A postal address as a label prints it (upper-cased there). */
export const Address = Type.Object(
  {
    name: Line('Person or addressee'),
    company: Type.Optional(Line('Company', false)),
    line1: Line('Street address or PO Box'),
    line2: Type.Optional(Line('Apartment, suite, unit', false)),
    city: Line('City'),
    state: Type.String({ pattern: '^[A-Za-z]{2}$', description: 'USPS state code' }),
    zip: Type.String({ pattern: '^\\d{5}(-\\d{4})?$', description: 'ZIP or ZIP+4' }),
  },
  { additionalProperties: false },
);

/** A mailing date; the window is checked by the meters (422 meter.mailing_date_invalid). */
export const MailingDate = (whenOmitted = 'today') =>
  Type.String({
    pattern: '^\\d{4}-\\d{2}-\\d{2}$',
    examples: ['2026-11-23'],
    description: `YYYY-MM-DD: today in the installation's time zone, or up to a few days ahead (INDICIA_MAILING_DATE_DAYS_AHEAD, 3 by default) and within the meter certificate; ${whenOmitted} when omitted. Other dates: 422 meter.mailing_date_invalid, nothing charged.`,
  });

export const Piece = Type.Object(
  {
    postageMills: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100_000_000,
        examples: [730],
        description: 'The postage; with rateClass, checked against the rate (it may be more, never less)',
      }),
    ),
    rateCategory: Type.Optional(
      Type.String({ minLength: 1, maxLength: 4, examples: ['FC'], description: 'Needed without rateClass' }),
    ),
    rateClass: Type.Optional(
      Type.String({
        maxLength: 40,
        description: 'A class of the rate tables (GET /v1/rates/tables): rated postage',
      }),
    ),
    weightOunces: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1120 })),
    destinationZip: Type.Optional(
      Type.String({ pattern: '^\\d{5}(-\\d{4})?$', description: 'For zoned classes' }),
    ),
    mailingDate: Type.Optional(MailingDate()),
    originZip: Type.Optional(Type.String({ pattern: '^\\d{5}(-\\d{4})?$' })),
    to: Type.Optional(Address),
    from: Type.Optional(Address),
    labelSerial: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 2 ** 40 - 1,
        description: 'A label of your serialized stock (POST /v1/label-sheets): printable once',
      }),
    ),
  },
  { additionalProperties: false },
);

export const Indicium = Type.Object({
  id: Type.String({ examples: ['ind_019a…'] }),
  meterId: Type.String(),
  data: Type.String({
    description: 'The indicium bytes the barcode carries, base64 (docs/indicium-format.md)',
  }),
  postageMills: Type.Integer(),
  ascendingRegisterMills: Type.Integer(),
  descendingRegisterMills: Type.Integer(),
  mailingDate: Type.String(),
});

/**
 * The answer to a value-moving request: what it made, plus the receipt, the challenge the device
 * signs its next request with, and the registers it keeps after this one.
 */
export const signedAnswer = <T extends TProperties>(fields: T) =>
  Type.Object({
    ...fields,
    receipt: Type.Ref('Receipt'),
    challenge: Type.String({ description: 'Sign your next value-moving request with this challenge' }),
    registers: Registers,
  });
