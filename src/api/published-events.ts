import type { Transaction } from 'kysely';
import type { CommittedRecords, SignedReceipt } from '../meters/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import type { PsdView } from '../vault/index.ts';
import { MAX_INDICIA_PER_EVENT } from '../webhooks/index.ts';
import type { EventOutbox } from './event-outbox.ts';

/**
 * The receipt an event names. Every value request through the API asks for one, so a missing
 * receipt is a programming error: it fails the commit rather than send an event that names none.
 */
function receiptOf(records: CommittedRecords): SignedReceipt {
  if (records.receipt === null) throw new Error('a value command through the API stored no receipt');
  return records.receipt;
}

const reference = (receipt: SignedReceipt) => ({ id: receipt.id, sequence: receipt.body.sequence });
const registersOf = (receipt: SignedReceipt) => ({
  ascendingRegisterMills: receipt.body.ascendingRegisterMills,
  descendingRegisterMills: receipt.body.descendingRegisterMills,
});

/** funds.posted, naming the funding and the receipt the answer carries. */
export async function publishFunded(
  events: EventOutbox,
  trx: Transaction<DatabaseSchema>,
  accountId: string,
  funded: { meterId: string; amountMills: number; processor: string; records: CommittedRecords },
): Promise<void> {
  const receipt = receiptOf(funded.records);
  if (funded.records.fundingId === undefined) throw new Error('a funding command recorded no funding');
  await events.publish(trx, accountId, 'funds.posted', {
    fundingId: funded.records.fundingId,
    receipt: reference(receipt),
    meterId: funded.meterId,
    amountMills: funded.amountMills,
    processor: funded.processor,
    ...registersOf(receipt),
  });
}

/**
 * refund.decided, naming the request, the indicium and — when credited — the refund and its
 * receipt (records); a denial (records null) credits nothing.
 */
export async function publishRefundDecided(
  events: EventOutbox,
  trx: Transaction<DatabaseSchema>,
  accountId: string,
  decided: {
    refundRequestId: string | undefined;
    indiciumId: string;
    meterId: string;
    amountMills: number;
    note: string | null;
    records: CommittedRecords | null;
  },
): Promise<void> {
  const { records } = decided;
  if (records !== null && records.refundId === undefined)
    throw new Error('a refund command recorded no refund');
  if (decided.refundRequestId === undefined) throw new Error('a refund decision recorded no refund request');
  await events.publish(trx, accountId, 'refund.decided', {
    refundRequestId: decided.refundRequestId,
    refundId: records?.refundId ?? null,
    indiciumId: decided.indiciumId,
    decision: records === null ? 'denied' : 'refunded',
    amountMills: records === null ? 0 : decided.amountMills,
    meterId: decided.meterId,
    receipt: records === null ? null : reference(receiptOf(records)),
    note: decided.note,
  });
}

export interface IssuedEventDetails {
  readonly records: CommittedRecords;
  /** The registers after the print: a dedicated meter's, for balance.low; null for a pooled customer. */
  readonly dedicatedMeter: PsdView | null;
  readonly mailingListId?: string | undefined;
  readonly correctsIndiciumId?: string | undefined;
}

/**
 * indicium.issued for a request that printed — every indicium id, 1,000 an event — and
 * balance.low when a dedicated meter's DR fell below the threshold.
 */
export async function publishIssued(
  events: EventOutbox,
  trx: Transaction<DatabaseSchema>,
  accountId: string,
  details: IssuedEventDetails,
): Promise<void> {
  const receipt = receiptOf(details.records);
  const indicia = details.records.indicia ?? [];
  const first = indicia[0];
  if (first === undefined) throw new Error('an issuing command recorded no indicium');
  const parts = Math.ceil(indicia.length / MAX_INDICIA_PER_EVENT);
  const totalPostageMills = indicia.reduce((total, indicium) => total + indicium.postage, 0);
  for (let part = 1; part <= parts; part += 1) {
    const slice = indicia.slice((part - 1) * MAX_INDICIA_PER_EVENT, part * MAX_INDICIA_PER_EVENT);
    await events.publish(trx, accountId, 'indicium.issued', {
      receipt: reference(receipt),
      meterId: first.meterId,
      pieces: indicia.length,
      totalPostageMills,
      indicia: slice.map((indicium) => ({
        id: indicium.id,
        postageMills: indicium.postage,
        mailingDate: indicium.mailingDate,
        ...(indicium.labelSerial === 0 ? {} : { labelSerial: indicium.labelSerial }),
      })),
      part,
      parts,
      ...(details.mailingListId === undefined ? {} : { mailingListId: details.mailingListId }),
      ...(details.correctsIndiciumId === undefined ? {} : { correctsIndiciumId: details.correctsIndiciumId }),
      ...registersOf(receipt),
    });
  }
  const meter = details.dedicatedMeter;
  if (meter !== null && meter.descendingRegister < events.lowBalanceMills)
    await events.publish(trx, accountId, 'balance.low', {
      meterId: meter.meterId,
      thresholdMills: events.lowBalanceMills,
      ascendingRegisterMills: meter.ascendingRegister,
      descendingRegisterMills: meter.descendingRegister,
    });
}
