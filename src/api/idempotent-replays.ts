import type { Kysely } from 'kysely';
import { type ReceiptBody, type SignedReceipt, refundRequestView } from '../meters/index.ts';
import { mailingListView } from '../printing/index.ts';
import type { CommittedPackage, DatabaseSchema } from '../store/index.ts';
import { refundRequestRecord } from './refund-records.ts';

/**
 * What a value-moving request records with its Idempotency-Key in its own commit: its kind and
 * the parts of its answer that only the request knew (the device's next challenge, the card).
 * Everything else is read back from the rows the commit wrote.
 */
export type IdempotentEffect =
  | {
      readonly kind: 'funds';
      readonly challenge: string;
      readonly amountMills: number;
      readonly processor: string;
      readonly last4: string;
    }
  | { readonly kind: 'indicia' | 'refund' | 'correction'; readonly challenge: string }
  /** A mailing list printed in one batch: its answer shows the list as it is now. */
  | { readonly kind: 'mailing-list'; readonly challenge: string; readonly listId: string }
  /** A label sheet's next label, printed: which label it was is known before the command. */
  | {
      readonly kind: 'label';
      readonly challenge: string;
      readonly label: { readonly serial: number; readonly position: number };
    };

/** An effect as stored: with the packages its commit moved. */
type StoredEffect = IdempotentEffect & { readonly committed?: readonly CommittedPackage[] };

export interface ReplayedAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

async function receiptOf(
  db: Kysely<DatabaseSchema>,
  committed: readonly CommittedPackage[],
): Promise<SignedReceipt> {
  // The receipt's sequence is the package version its command made (receipts.ts).
  const row = await db
    .selectFrom('receipts')
    .selectAll()
    .where((eb) =>
      eb.or(
        committed.map(({ meterId, packageSequence }) =>
          eb.and([eb('meter_id', '=', meterId), eb('sequence', '=', packageSequence)]),
        ),
      ),
    )
    .executeTakeFirst();
  if (row === undefined) throw new Error('The receipt of a committed idempotent request is missing.');
  return {
    id: row.id,
    body: JSON.parse(row.body) as ReceiptBody,
    signature: row.signature,
    certificateSerial: row.certificate_serial,
  };
}

async function indiciaOf(db: Kysely<DatabaseSchema>, committed: readonly CommittedPackage[]) {
  const rows = await db
    .selectFrom('indicia')
    .selectAll()
    .where((eb) =>
      eb.or(
        committed.map(({ meterId, packageSequence }) =>
          eb.and([eb('meter_id', '=', meterId), eb('package_sequence', '=', packageSequence)]),
        ),
      ),
    )
    // Each piece's debit raised the register: its order is the request's order.
    .orderBy('ascending_register_mills', 'asc')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    meterId: row.meter_id,
    data: row.data,
    postageMills: row.postage_mills,
    ascendingRegisterMills: row.ascending_register_mills,
    descendingRegisterMills: row.descending_register_mills,
    mailingDate: row.mailing_date,
  }));
}

/**
 * The answer of a value-moving request whose effect committed but whose process died before the
 * answer was stored, rebuilt from what the commit wrote: field for field what the route answered
 * (value-routes.ts, indicia-routes.ts, label-sheet-routes.ts; the route's serializer orders the fields).
 */
export async function replayAnswer(
  db: Kysely<DatabaseSchema>,
  effect: StoredEffect,
): Promise<ReplayedAnswer> {
  const committed = effect.committed ?? [];
  const receipt = await receiptOf(db, committed);
  const signed = {
    receipt,
    challenge: effect.challenge,
    registers: {
      ascendingRegisterMills: receipt.body.ascendingRegisterMills,
      descendingRegisterMills: receipt.body.descendingRegisterMills,
    },
  };
  switch (effect.kind) {
    case 'funds':
      return {
        status: 201,
        body: {
          funding: { id: receipt.body.reference, amountMills: effect.amountMills },
          payment: { processor: effect.processor, last4: effect.last4, outcome: 'approved' },
          ...signed,
        },
      };
    case 'indicia':
      return { status: 201, body: { indicia: await indiciaOf(db, committed), ...signed } };
    case 'refund': {
      // A refund is credited with its request, in the same commit (refund-requests.ts).
      const requested = await db
        .selectFrom('refund_requests')
        .selectAll()
        .where('refund_id', '=', receipt.body.reference)
        .executeTakeFirstOrThrow();
      return {
        status: 201,
        body: {
          refund: { id: receipt.body.reference, amountMills: receipt.body.amountMills },
          refundRequest: refundRequestRecord(refundRequestView(requested)),
          ...signed,
        },
      };
    }
    case 'correction': {
      const [indicium] = await indiciaOf(db, committed);
      return { status: 201, body: { indicium, ...signed } };
    }
    case 'mailing-list': {
      const list = await db
        .selectFrom('mailing_lists')
        .selectAll()
        .where('id', '=', effect.listId)
        .executeTakeFirstOrThrow();
      const indicia = await indiciaOf(db, committed);
      return {
        status: 201,
        body: {
          list: mailingListView(list),
          issued: {
            pieces: indicia.length,
            totalPostageMills: indicia.reduce((total, indicium) => total + indicium.postageMills, 0),
            firstIndiciumId: indicia[0]?.id ?? '',
            lastIndiciumId: indicia.at(-1)?.id ?? '',
          },
          ...signed,
        },
      };
    }
    case 'label': {
      const [indicium] = await indiciaOf(db, committed);
      return { status: 201, body: { indicium, label: effect.label, ...signed } };
    }
  }
}
