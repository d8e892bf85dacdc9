import { createReadStream } from 'node:fs';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import type { AccountsService } from '../../accounts/index.ts';
import type { AddressProvider } from '../../addresses/index.ts';
import type { Mills } from '../../money/index.ts';
import {
  LIST_FIELDS,
  MAILING_LIST_LIMITS,
  MAX_LIST_PIECES,
  type AdTexts,
  type ListField,
  type MailingLists,
  PrintingError,
} from '../../printing/index.ts';
import type { RatesService } from '../../rates/index.ts';
import type { DatabaseSchema } from '../../store/index.ts';
import { principalOf } from '../authentication.ts';
import { idempotentEffect } from '../idempotency.ts';
import { returnAddressOf } from '../return-address.ts';
import type { CustomerIssuer } from '../customer-issuer.ts';
import { Digits, wholeNumber } from '../schemas.ts';
import { authorizationOf, signedAnswerParts } from '../signed-request.ts';
import { Layout } from './label-routes.ts';
import { MailingDate, signedAnswer } from './value-schemas.ts';

export interface MailingListRouteDependencies {
  readonly ads: AdTexts;
  readonly lists: MailingLists;
  readonly issuer: CustomerIssuer;
  readonly accounts: Pick<AccountsService, 'profile' | 'account'>;
  readonly rates: RatesService;
  readonly addresses: AddressProvider;
  /** Where the Idempotency-Key of a print is marked, in the issuance's commit. */
  readonly db: Kysely<DatabaseSchema>;
}

const CUSTOMER = ['customer'] as const;

const MailingList = Type.Object({
  id: Type.String(),
  name: Type.String(),
  state: Type.String({ examples: ['review', 'printing', 'rendering', 'printed'] }),
  rows: Type.Integer(),
  errorRows: Type.Integer(),
  totalPostageMills: Type.Integer(),
  digest: Type.String({ description: 'SHA-256 of the canonical JSON of the pieces: sign it to print' }),
  layout: Type.Union([Type.String(), Type.Null()]),
  progress: Type.Object({ pagesDone: Type.Integer(), pages: Type.Integer() }),
  receiptId: Type.Union([Type.String(), Type.Null()]),
  failure: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  printedAt: Type.Union([Type.String(), Type.Null()]),
});

const ListParams = Type.Object({ id: Type.String({ maxLength: 60 }) });

/** Mailing lists: import a CSV, review it row by row, print it all in one batch into one PDF. */
export function mailingListRoutes({
  ads,
  lists,
  issuer,
  accounts,
  rates,
  addresses,
  db,
}: MailingListRouteDependencies): FastifyPluginAsyncTypebox {
  return (app) => {
    app.addContentTypeParser(
      ['text/csv', 'application/octet-stream'],
      { parseAs: 'buffer', bodyLimit: MAILING_LIST_LIMITS.maxFileBytes },
      (_request, body, done) => {
        done(null, body);
      },
    );

    app.post(
      '/v1/mailing-lists',
      {
        bodyLimit: MAILING_LIST_LIMITS.maxFileBytes,
        config: { access: { roles: CUSTOMER, scope: 'indicia:issue' } },
        schema: {
          tags: ['labels'],
          summary:
            'Import a mailing list: the CSV file as the body (text/csv, UTF-8); every row is checked and its errors kept for review. Nothing is printed or charged',
          querystring: Type.Object(
            {
              name: Type.Optional(Type.String({ maxLength: 100 })),
              mapping: Type.Optional(
                Type.String({
                  maxLength: 2000,
                  description: `JSON object from field (${LIST_FIELDS.join(', ')}) to the header of the column holding it; docs/labels.md lists the headers understood without one`,
                }),
              ),
              postageMills: Type.Optional(Digits('Postage in mills for rows without their own')),
              rateCategory: Type.Optional(
                Type.String({ pattern: '^[A-Za-z0-9]{1,4}$', description: 'FC unless given' }),
              ),
              rateClass: Type.Optional(
                Type.String({
                  maxLength: 40,
                  description: 'Rate class for rows without one: rows are rated by weight',
                }),
              ),
            },
            { additionalProperties: false },
          ),
          response: { 201: MailingList },
        },
      },
      async (request, reply) => {
        if (!Buffer.isBuffer(request.body))
          throw new PrintingError(
            'mailing_list.invalid',
            'Send the CSV file itself as the body, with Content-Type: text/csv.',
          );
        const { name, mapping, postageMills, rateCategory, rateClass } = request.query;
        const principal = principalOf(request);
        // Rows are rated from the customer's meter's ZIP, for a mailing today.
        const { licensingZip } = await issuer.accountOf(principal);
        const list = await lists.importList({
          accountId: principal.accountId,
          addresses,
          rate: (classCode, weightOunces, zip) =>
            rates.quote({
              classCode,
              weightOunces,
              destinationZip: zip,
              ...(licensingZip === null ? {} : { originZip: licensingZip }),
            }),
          ...(rateClass === undefined ? {} : { rateClass }),
          name: name ?? 'Mailing list',
          csv: request.body,
          ...(mapping === undefined ? {} : { mapping: mappingOf(mapping) }),
          ...(postageMills === undefined
            ? {}
            : {
                postageMills: wholeNumber(postageMills, 'postageMills', {
                  min: 1,
                  max: 100_000_000,
                }) as Mills,
              }),
          ...(rateCategory === undefined ? {} : { rateCategory: rateCategory.toUpperCase() }),
        });
        return reply.status(201).send(list);
      },
    );

    app.get(
      '/v1/mailing-lists',
      {
        config: { access: { roles: CUSTOMER, scope: 'indicia:read' } },
        schema: {
          tags: ['labels'],
          summary: 'Your mailing lists, newest first',
          response: { 200: Type.Object({ lists: Type.Array(MailingList) }) },
        },
      },
      async (request) => ({ lists: await lists.lists(principalOf(request).accountId) }),
    );

    app.get(
      '/v1/mailing-lists/:id',
      {
        config: { access: { roles: CUSTOMER, scope: 'indicia:read' } },
        schema: {
          tags: ['labels'],
          summary:
            'A mailing list: its review (rows, errors, total postage) and, while printing, its progress',
          params: ListParams,
          response: { 200: MailingList },
        },
      },
      async (request) => lists.list(principalOf(request).accountId, request.params.id),
    );

    app.get(
      '/v1/mailing-lists/:id/rows',
      {
        config: { access: { roles: CUSTOMER, scope: 'indicia:read' } },
        schema: {
          tags: ['labels'],
          summary: 'The rows of a list for review: each checked piece, or its errors',
          params: ListParams,
          querystring: Type.Object(
            {
              errors: Type.Optional(
                Type.Union([Type.Literal('true'), Type.Literal('false')], {
                  description: 'Only the rows in error',
                }),
              ),
              after: Type.Optional(Digits('Rows after this row number')),
              limit: Type.Optional(Digits('Rows a page, 1–1000 (100 unless given)')),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) =>
        lists.rows(principalOf(request).accountId, request.params.id, {
          errorsOnly: request.query.errors === 'true',
          after:
            request.query.after === undefined
              ? 0
              : wholeNumber(request.query.after, 'after', { min: 0, max: 1e9 }),
          limit:
            request.query.limit === undefined
              ? 100
              : wholeNumber(request.query.limit, 'limit', { min: 1, max: 1000 }),
        }),
    );

    app.post(
      '/v1/mailing-lists/:id/print',
      {
        config: { access: { roles: CUSTOMER, scope: 'indicia:issue', verifiedEmail: true } },
        schema: {
          tags: ['labels'],
          summary: `Print the whole reviewed list (up to ${MAX_LIST_PIECES.toLocaleString('en-US')} pieces): one batch issuance, then one PDF rendered in the background; device-signed over the list's digest`,
          params: ListParams,
          body: Type.Object(
            {
              digest: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'The digest the review showed' }),
              pieces: Type.Integer({ minimum: 1 }),
              totalPostageMills: Type.Integer({ minimum: 1 }),
              layout: Layout,
              mailingDate: Type.Optional(MailingDate()),
              ad: Type.Optional(
                Type.String({
                  maxLength: 60,
                  description: 'Approved ad text (GET /v1/ad-texts) for envelopes',
                }),
              ),
            },
            { additionalProperties: false },
          ),
          response: {
            201: signedAnswer({
              list: MailingList,
              issued: Type.Object({
                pieces: Type.Integer(),
                totalPostageMills: Type.Integer(),
                firstIndiciumId: Type.String(),
                lastIndiciumId: Type.String(),
              }),
            }),
          },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const authorization = authorizationOf(request);
        const { body } = request;
        const from = await returnAddressOf(accounts, principal);
        if (from === null)
          throw new PrintingError('label.address_missing', 'Your account has no mailing address.');
        if (body.ad !== undefined) await ads.lines(body.ad); // refuses ad text that is not approved
        const { list, issued } = await idempotentEffect(
          db,
          request,
          { kind: 'mailing-list', challenge: authorization.nextChallenge, listId: request.params.id },
          () =>
            lists.print(
              principal.accountId,
              request.params.id,
              {
                expected: {
                  digest: body.digest,
                  pieces: body.pieces,
                  totalPostageMills: body.totalPostageMills,
                },
                layout: body.layout ?? 'envelope-10',
                from,
                ...(body.mailingDate === undefined ? {} : { mailingDate: body.mailingDate }),
                ...(body.ad === undefined ? {} : { adTextId: body.ad }),
              },
              (pieces, withinCommit) =>
                issuer.issue(principal, pieces, {
                  authorization,
                  maxPieces: MAX_LIST_PIECES,
                  isWholeList: true,
                  withinCommit,
                  mailingListId: request.params.id,
                }),
            ),
        );
        return reply.status(201).send({
          list,
          issued: {
            pieces: issued.length,
            totalPostageMills: issued.reduce((total, indicium) => total + indicium.postage, 0),
            firstIndiciumId: issued[0]?.id ?? '',
            lastIndiciumId: issued.at(-1)?.id ?? '',
          },
          ...signedAnswerParts(issued.receipt, authorization),
        });
      },
    );

    app.get(
      '/v1/mailing-lists/:id/pdf',
      {
        config: { access: { roles: CUSTOMER, scope: 'indicia:read' } },
        schema: {
          tags: ['labels'],
          summary: "The printed list's labels: one PDF, a page per piece in row order",
          params: ListParams,
          produces: ['application/pdf'],
        },
      },
      async (request, reply) => {
        const file = await lists.pdfFile(principalOf(request).accountId, request.params.id);
        return reply
          .type('application/pdf')
          .header('content-length', file.bytes)
          .header('content-disposition', `attachment; filename="${request.params.id}.pdf"`)
          .send(createReadStream(file.path));
      },
    );
    return Promise.resolve();
  };
}

/** The `mapping` query parameter: a JSON object from list field to column header. */
function mappingOf(text: string): Partial<Record<ListField, string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new PrintingError(
      'mailing_list.invalid',
      'mapping must be a JSON object like {"name":"Full Name","zip":"Postal Code"}.',
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new PrintingError(
      'mailing_list.invalid',
      'mapping must be a JSON object like {"name":"Full Name"}.',
    );
  const mapping: Partial<Record<ListField, string>> = {};
  for (const [field, header] of Object.entries(parsed)) {
    if (
      !(LIST_FIELDS as readonly string[]).includes(field) ||
      typeof header !== 'string' ||
      header.length > 200
    )
      throw new PrintingError(
        'mailing_list.invalid',
        `mapping: "${field.slice(0, 40)}" is not a list field, or its column header is not a short string. Fields: ${LIST_FIELDS.join(', ')}.`,
      );
    mapping[field as ListField] = header;
  }
  return mapping;
}
