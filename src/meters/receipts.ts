import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { canonicalJson } from '../encoding/index.ts';
import type { Mills } from '../money/index.ts';
import type { DatabaseSchema, ReceiptsTable } from '../store/index.ts';
import type { CommandStep, PsdView } from '../vault/index.ts';
import { MeterError } from './meter-error.ts';

/** Prefix of the signed bytes: a receipt signature can never pass for an indicium's or a certificate's. */
export const RECEIPT_LABEL = 'indicia/receipt/v1\n';

/** What a receipt says, exactly as signed (canonical JSON). */
export interface ReceiptBody {
  readonly receiptId: string;
  readonly kind: 'funds' | 'indicia' | 'refund' | 'correction';
  readonly customerNumber: number;
  readonly meterId: string;
  /** The meter package's sequence number after the request: one per request, no gaps. */
  readonly sequence: number;
  readonly at: string;
  readonly amountMills: number;
  readonly pieces: number;
  readonly ascendingRegisterMills: number;
  readonly descendingRegisterMills: number;
  /** What the receipt is for: the funding, the first indicium, the refund. */
  readonly reference: string;
}

export interface SignedReceipt {
  readonly id: string;
  readonly body: ReceiptBody;
  /** base64 of the meter key's signature (ECDSA P-256 as r‖s, or Ed25519) over RECEIPT_LABEL + canonical JSON of body. */
  readonly signature: string;
  /** The meter certificate that verifies the signature (GET /v1/certificates/{serial}). */
  readonly certificateSerial: string;
}

export interface ReceiptRequest {
  readonly kind: ReceiptBody['kind'];
  readonly customerNumber: number;
  readonly amount: Mills;
  readonly pieces: number;
  readonly reference: string;
}

/**
 * The last step of a value-moving command: moves nothing, and has the meter key sign the receipt
 * built from the registers after every other step.
 */
export function receiptStep(id: string, request: ReceiptRequest): CommandStep {
  return {
    operation: { type: 'update' },
    sign: (after: PsdView) =>
      Buffer.concat([
        Buffer.from(RECEIPT_LABEL),
        Buffer.from(
          canonicalJson({
            receiptId: id,
            kind: request.kind,
            customerNumber: request.customerNumber,
            meterId: after.meterId,
            // Steps run before the module bumps the sequence once for the whole command.
            sequence: after.sequence + 1,
            at: after.updatedAt,
            amountMills: request.amount,
            pieces: request.pieces,
            ascendingRegisterMills: after.ascendingRegister,
            descendingRegisterMills: after.descendingRegister,
            reference: request.reference,
          } satisfies ReceiptBody),
        ),
      ]),
  };
}

export function newReceiptId(): string {
  return `rcpt_${randomUUID()}`;
}

function receiptOf(row: ReceiptsTable): SignedReceipt {
  return {
    id: row.id,
    body: JSON.parse(row.body) as ReceiptBody,
    signature: row.signature,
    certificateSerial: row.certificate_serial,
  };
}

/** Stores the receipt the module signed, in the command's own commit, and returns it. */
export async function storeReceipt(
  trx: Transaction<DatabaseSchema>,
  signed: { data: Buffer; signature: Buffer },
  certificateSerial: string,
): Promise<SignedReceipt> {
  const text = signed.data.subarray(RECEIPT_LABEL.length).toString('utf8');
  const body = JSON.parse(text) as ReceiptBody;
  const row: ReceiptsTable = {
    id: body.receiptId,
    customer_number: body.customerNumber,
    meter_id: body.meterId,
    kind: body.kind,
    sequence: body.sequence,
    body: text,
    signature: signed.signature.toString('base64'),
    certificate_serial: certificateSerial,
    created_at: body.at,
  };
  await trx.insertInto('receipts').values(row).execute();
  return receiptOf(row);
}

/** A customer's receipt by id; another customer's is as unknown as a missing one. */
export async function receiptFor(
  db: Kysely<DatabaseSchema>,
  customerNumber: number | null,
  id: string,
): Promise<SignedReceipt> {
  let query = db.selectFrom('receipts').selectAll().where('id', '=', id);
  if (customerNumber !== null) query = query.where('customer_number', '=', customerNumber);
  const row = await query.executeTakeFirst();
  if (row === undefined)
    throw new MeterError('meter.receipt_not_found', `There is no receipt ${id.slice(0, 60)}.`);
  return receiptOf(row);
}
