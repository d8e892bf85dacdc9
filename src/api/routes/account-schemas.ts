import { Type } from 'typebox';
import { API_KEY_SCOPES, PASSWORD_MAX_LENGTH } from '../../accounts/index.ts';

const text = (maxLength: number, description?: string, examples?: string[]) =>
  Type.String({
    maxLength,
    ...(description === undefined ? {} : { description }),
    ...(examples ? { examples } : {}),
  });

export const Address = Type.Object(
  {
    line1: text(100, 'Street address, or a PO Box where allowed', ['350 Fifth Avenue']),
    line2: Type.Optional(text(100, 'Suite, floor, unit', ['Suite 4100'])),
    city: text(60, undefined, ['New York']),
    state: text(2, 'USPS state code', ['NY']),
    zip: text(10, 'ZIP or ZIP+4', ['10118']),
  },
  { additionalProperties: false },
);

export const Registration = Type.Object(
  {
    email: text(254, undefined, ['ada@example.com']),
    password: text(PASSWORD_MAX_LENGTH * 4, 'At least 12 characters; a passphrase works well'),
    name: text(100, 'Who the licence is for', ['Ada Lovelace']),
    company: Type.Optional(text(100, undefined, ['Analytical Engines Ltd'])),
    phone: text(20, undefined, ['+1 212 555 0100']),
    physicalAddress: Address,
    mailingAddress: Type.Optional(Address),
    billingAddress: Type.Optional(Address),
    licensingZip: text(5, "5-digit ZIP of the physical address's post office", ['10118']),
    postOffice: Type.Object(
      {
        name: text(100, 'Where large mailings will be deposited', ['James A. Farley']),
        state: text(2, undefined, ['NY']),
        zip: text(10, undefined, ['10001']),
      },
      { additionalProperties: false },
    ),
    meterMode: Type.Union([Type.Literal('dedicated'), Type.Literal('pooled')], {
      description:
        'dedicated: a meter of your own; pooled: print from the vendor pool against a prefunded balance',
    }),
    previousMeterNumber: Type.Optional(text(40, 'A meter number you held before, if any')),
  },
  { additionalProperties: false },
);

export const AccountView = Type.Object(
  {
    id: Type.String({ examples: ['acct_0b6c…'] }),
    email: Type.String(),
    name: Type.String(),
    role: Type.String({ examples: ['customer'] }),
    customerNumber: Type.Union([Type.Integer(), Type.Null()], { examples: [100001] }),
    meterMode: Type.Union([Type.Literal('dedicated'), Type.Literal('pooled'), Type.Null()]),
    company: Type.Union([Type.String(), Type.Null()]),
    emailVerified: Type.Boolean(),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Account' },
);

export const Licence = Type.Object(
  {
    id: Type.String(),
    status: Type.Union([Type.Literal('granted'), Type.Literal('refused')]),
    licenceNumber: Type.Union([Type.String(), Type.Null()], { examples: ['PM-10118-100001'] }),
    decision: Type.String(),
    filedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Licence' },
);

export const SessionView = Type.Object({
  id: Type.String({ examples: ['ses_3f1d…'] }),
  expiresAt: Type.String({ format: 'date-time' }),
  csrfToken: Type.String({
    description: 'Send in the X-CSRF-Token header on every POST/DELETE of this session',
  }),
});

export const Credentials = Type.Object(
  { email: text(254, undefined, ['ada@example.com']), password: text(PASSWORD_MAX_LENGTH * 4) },
  { additionalProperties: false },
);

export const Scope = Type.Union(API_KEY_SCOPES.map((scope) => Type.Literal(scope)));

export const ApiKeyView = Type.Object({
  id: Type.String({ examples: ['9f3a0c1e5b7d2468'] }),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
});

export const Token = Type.Object({ token: text(100) }, { additionalProperties: false });
