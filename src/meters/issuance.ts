import { randomUUID } from 'node:crypto';
import { timeOrderedUuid } from '../encoding/index.ts';
import type { Insertable, Kysely, Transaction } from 'kysely';
import type { CommittedCommand, CustodyService } from '../custody/index.ts';
import {
  type IndiciumFields,
  assembleIndicium,
  encodeSignedData,
  parseMeterNumber,
} from '../indicium/index.ts';
import { type Mills, add, nonNegativeMills } from '../money/index.ts';
import type { DatabaseSchema, IndiciaTable, MeterMode, MetersTable } from '../store/index.ts';
import type { ClientAuthorization, CommandStep, PsdOperation, PsdView } from '../vault/index.ts';
import { type clientPackageCommand, executeWithClientPackage } from './client-packages.ts';
import type { RecordsWithinCommit } from './committed-records.ts';
import { MeterError } from './meter-error.ts';
import { mailingWindow, refuseUnprintableDates } from './mailing-date.ts';
import { type SignedReceipt, newReceiptId, receiptStep, storeReceipt } from './receipts.ts';
import type { MeterSettings } from './meter-settings.ts';

export interface IssuanceDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly custody: CustodyService;
  readonly settings: MeterSettings;
  readonly now?: () => Date;
}

/** Pieces one issuance request (one module pass, one commit) may print: a mailing list's batch. */
export const MAX_PIECES_PER_REQUEST = 1_000;

/** One mail piece to pay for. */
export interface PieceRequest {
  readonly postage: Mills;
  /** Rate category, e.g. FC for First-Class. */
  readonly rateCategory: string;
  /**
   * YYYY-MM-DD, from today (in the installation's time zone) to `mailingDateDaysAhead` days
   * ahead; today when omitted.
   */
  readonly mailingDate?: string;
  /** Originating ZIP (or ZIP+4); the meter's licensing ZIP when omitted. */
  readonly originZip?: string;
  /** Label serial on serialized stock; 0 when omitted. */
  readonly labelSerial?: number;
}

export interface IssuedIndicium {
  readonly id: string;
  readonly meterId: string;
  /** The 121 bytes the barcode carries. */
  readonly data: Buffer;
  readonly postage: Mills;
  readonly ascendingRegister: Mills;
  readonly descendingRegister: Mills;
  readonly mailingDate: string;
  /** The serialized label it was printed on; 0 for none. */
  readonly labelSerial: number;
}

/** How a correction or other special issuance differs from plain postage. */
export interface IssueOptions {
  /** The register operation for a piece; a debit of its postage unless given. */
  readonly operationFor?: (piece: PieceRequest) => PsdOperation;
  /** A correction indicium names the indicium it corrects. */
  readonly correctsIndiciumId?: string;
  /** Zero postage is allowed only for a date correction, which moves no register. */
  readonly allowsZeroPostage?: boolean;
  /** More writes in the same commit. */
  readonly withinCommit?: RecordsWithinCommit;
  /** The customer printed in the indicium; the meter's own customer unless given (pooled mode). */
  readonly customerNumber?: number;
  /** The meter's mode: 'dedicated' unless given. */
  readonly mode?: MeterMode;
  /** An enrolled device's signed request, checked by the module before it moves anything. */
  readonly authorization?: ClientAuthorization;
  /** Have the meter key sign a receipt for the request, stored in the same commit. */
  readonly receipt?: { readonly customerNumber: number };
  /**
   * A pooled customer's client package command that stands or falls with the issue (its balance
   * debit, the device's signed request, and a receipt step whose signature becomes the receipt).
   */
  readonly companion?: ReturnType<typeof clientPackageCommand>;
  /** Pieces this request may issue: {@link MAX_PIECES_PER_REQUEST} unless a mailing list says more. */
  readonly maxPieces?: number | undefined;
  /** What a mailing-date refusal tells the person to do, when not the usual (a correction's). */
  readonly mailingDateRemedy?: string;
}

export interface SignedFunding {
  readonly authorization?: ClientAuthorization;
  readonly receipt?: { readonly customerNumber: number };
  readonly mode?: MeterMode;
  /** More writes in the same commit (the card payment record). */
  readonly withinCommit?: RecordsWithinCommit;
}

/** The indicia of one request, in order, and its receipt when one was asked for. */
export type IssuedIndicia = IssuedIndicium[] & { readonly receipt: SignedReceipt | null };

export interface FundingResult {
  readonly id: string;
  readonly meterId: string;
  readonly amount: Mills;
  readonly view: PsdView;
  /** When asked for (a customer's request through the API). */
  readonly receipt: SignedReceipt | null;
}

/** A meter with the validity of its current certificate, which every indicium it prints names. */
type IssuingMeter = MetersTable & { readonly not_before: string | null; readonly not_after: string | null };

/** A meter's record, or `meter.not_found`. */
export async function meterRecord(db: Kysely<DatabaseSchema>, meterId: string): Promise<MetersTable> {
  const meter = await db.selectFrom('meters').selectAll().where('meter_id', '=', meterId).executeTakeFirst();
  if (meter === undefined) throw new MeterError('meter.not_found', `There is no meter ${meterId}.`);
  return meter;
}

/** The meter's record with its certificate's validity, in one query. */
async function issuingMeter(db: Kysely<DatabaseSchema>, meterId: string): Promise<IssuingMeter> {
  const meter = await db
    .selectFrom('meters')
    .leftJoin('certificates', 'certificates.serial', 'meters.certificate_serial')
    .selectAll('meters')
    .select(['certificates.not_before', 'certificates.not_after'])
    .where('meters.meter_id', '=', meterId)
    .executeTakeFirst();
  if (meter === undefined) throw new MeterError('meter.not_found', `There is no meter ${meterId}.`);
  return meter;
}

const MODE_NAMES: Record<MeterMode, string> = {
  dedicated: "a customer's own meter",
  pooled: 'a pooled mini-PSD, funded from the master PSD and printing for customer balances (indicia pool)',
  master: 'the master PSD, funded by purchases from the authority (indicia pool purchase)',
};

/**
 * A meter that may print and be funded now, or `meter.not_found` / `meter.not_active`; with `mode`,
 * also `meter.request_invalid` for a meter of another mode (a mini-PSD is not funded by hand).
 */
export async function activeMeter(
  db: Kysely<DatabaseSchema>,
  meterId: string,
  mode?: MeterMode,
): Promise<MetersTable> {
  return checkedActive(await meterRecord(db, meterId), mode);
}

function checkedActive<Meter extends MetersTable>(meter: Meter, mode: MeterMode | undefined): Meter {
  const meterId = meter.meter_id;
  if (meter.status !== 'active')
    throw new MeterError('meter.not_active', `Meter ${meterId} is ${meter.status}.`);
  if (mode !== undefined && meter.mode !== mode) {
    throw new MeterError(
      'meter.request_invalid',
      `Meter ${meterId} is ${MODE_NAMES[meter.mode]}, not ${MODE_NAMES[mode]}.`,
    );
  }
  return meter;
}

function positiveAmount(value: number, what: string): Mills {
  const amount = nonNegativeMills(value);
  if (amount === 0) throw new MeterError('meter.request_invalid', `The ${what} must be more than zero.`);
  return amount;
}

/** Postage value download: moves `amount` into the meter's DR (refused above its maximum). */
export async function fundMeter(
  { db, custody }: IssuanceDependencies,
  meterId: string,
  amountValue: number,
  source: string,
  options: SignedFunding = {},
): Promise<FundingResult> {
  const meter = await activeMeter(db, meterId, options.mode ?? 'dedicated');
  const amount = positiveAmount(amountValue, 'funding amount');
  const id = `fund_${randomUUID()}`;
  const receiptId = newReceiptId();
  const steps: CommandStep[] = [{ operation: { type: 'fund', amount } }];
  if (options.receipt !== undefined) {
    steps.push(
      receiptStep(receiptId, {
        kind: 'funds',
        customerNumber: options.receipt.customerNumber,
        amount,
        pieces: 0,
        reference: id,
      }),
    );
  }
  let receipt: SignedReceipt | null = null;
  const result = await custody.execute(
    meterId,
    steps,
    async (trx, outcome) => {
      const signed = outcome.signatures[0];
      if (options.receipt !== undefined && signed !== undefined)
        receipt = await storeReceipt(trx, signed, meter.certificate_serial);
      await trx
        .insertInto('meter_fundings')
        .values({
          id,
          meter_id: meterId,
          amount_mills: amount,
          source,
          package_sequence: outcome.transaction.packageSequence,
          created_at: new Date().toISOString(),
        })
        .execute();
      await options.withinCommit?.(trx, outcome, { receipt, fundingId: id });
    },
    options.authorization,
  );
  return { id, meterId, amount, view: result.view, receipt };
}

/**
 * Issues one indicium per piece in one module pass and one commit: the registers move once per
 * piece, each indicium carries the registers after its own debit, and nothing is returned before
 * the indicia are durable in the indicium log.
 */
export async function issueIndicia(
  dependencies: IssuanceDependencies,
  meterId: string,
  pieces: readonly PieceRequest[],
  options: IssueOptions = {},
): Promise<IssuedIndicia> {
  const { db, custody, settings } = dependencies;
  const now = dependencies.now ?? (() => new Date());
  if (pieces.length === 0) throw new MeterError('meter.request_invalid', 'Ask for at least one piece.');
  const maxPieces = options.maxPieces ?? MAX_PIECES_PER_REQUEST;
  if (pieces.length > maxPieces) {
    throw new MeterError(
      'meter.request_invalid',
      `One request issues at most ${maxPieces.toLocaleString('en-US')} pieces; ${pieces.length.toLocaleString('en-US')} were asked for. Split the mailing list.`,
    );
  }
  const meter = checkedActive(await issuingMeter(db, meterId), options.mode ?? 'dedicated');
  const { manufacturerId, modelId, serial } = parseMeterNumber(meterId);
  const window = mailingWindow(now(), settings);
  const { today } = window;
  const fieldsFor = (
    piece: PieceRequest,
    ascendingRegister: Mills,
    descendingRegister: Mills,
  ): IndiciumFields => ({
    algorithm: 'ecdsa-p256',
    certificateSerial: BigInt(`0x${meter.certificate_serial}`),
    manufacturerId,
    modelId,
    psdSerial: serial,
    ascendingRegister,
    postage: piece.postage,
    date: piece.mailingDate ?? today,
    originZip: piece.originZip ?? meter.licensing_zip,
    userId: options.customerNumber ?? meter.customer_number,
    softwareId: settings.softwareId,
    labelSerial: piece.labelSerial ?? 0,
    descendingRegister,
    rateCategory: piece.rateCategory,
  });
  // Every field is checked before the module moves a register.
  for (const piece of pieces) {
    if (options.allowsZeroPostage === true) nonNegativeMills(piece.postage);
    else positiveAmount(piece.postage, 'postage');
    encodeSignedData(fieldsFor(piece, 0 as Mills, 0 as Mills));
  }
  if (meter.not_before === null || meter.not_after === null)
    throw new MeterError(
      'meter.certificate_invalid',
      `Meter ${meterId}'s certificate ${meter.certificate_serial} is not on record.`,
    );
  refuseUnprintableDates(
    pieces.map((piece) => piece.mailingDate ?? today),
    window,
    {
      meterId,
      serial: meter.certificate_serial,
      notBefore: meter.not_before,
      notAfter: meter.not_after,
    },
    options.mailingDateRemedy,
  );
  const steps: CommandStep[] = pieces.map((piece) => ({
    operation: options.operationFor?.(piece) ?? { type: 'debit', amount: piece.postage },
    // Built inside the module pass from the registers after this piece's debit.
    sign: (after) =>
      encodeSignedData({
        ...fieldsFor(piece, after.ascendingRegister, after.descendingRegister),
        algorithm: after.signingKey.algorithm,
      }),
  }));
  const receiptId = newReceiptId();
  if (options.receipt !== undefined) {
    steps.push(
      receiptStep(receiptId, {
        kind: options.correctsIndiciumId === undefined ? 'indicia' : 'correction',
        customerNumber: options.receipt.customerNumber,
        amount: pieces.reduce((total, piece) => add(total, piece.postage), 0 as Mills),
        pieces: pieces.length,
        reference: `ind_${receiptId.slice('rcpt_'.length)}`,
      }),
    );
  }
  const issued: IssuedIndicium[] = [];
  let receipt: SignedReceipt | null = null;
  const record = async (
    trx: Transaction<DatabaseSchema>,
    result: CommittedCommand,
    clientReceipt: SignedReceipt | null = null,
  ): Promise<void> => {
    const createdAt = now().toISOString();
    const rows: Insertable<IndiciaTable>[] = [];
    for (const signature of result.signatures) {
      const piece = pieces[signature.step];
      if (piece === undefined) {
        receipt = await storeReceipt(trx, signature, meter.certificate_serial);
        continue;
      }
      const data = assembleIndicium(signature.data, signature.signature);
      const ascendingRegister = data.readUIntBE(18, 6) as Mills;
      const descendingRegister = data.readUIntBE(47, 6) as Mills;
      const mailingDate = piece.mailingDate ?? today;
      const id = `ind_${timeOrderedUuid()}`;
      issued.push({
        id,
        meterId,
        data,
        postage: piece.postage,
        ascendingRegister,
        descendingRegister,
        mailingDate,
        labelSerial: piece.labelSerial ?? 0,
      });
      rows.push({
        id,
        meter_id: meterId,
        package_sequence: result.transaction.packageSequence,
        certificate_serial: meter.certificate_serial,
        postage_mills: piece.postage,
        ascending_register_mills: ascendingRegister,
        descending_register_mills: descendingRegister,
        mailing_date: mailingDate,
        origin_zip: piece.originZip ?? meter.licensing_zip,
        rate_category: piece.rateCategory,
        label_serial: piece.labelSerial ?? 0,
        status: 'valid',
        data: data.toString('base64'),
        created_at: createdAt,
        corrects_indicium_id: options.correctsIndiciumId ?? null,
        customer_number: options.customerNumber ?? meter.customer_number,
      });
    }
    // A batch's indicia go in 1,000 rows a statement (within SQLite's and PostgreSQL's limits on
    // bound parameters).
    for (let start = 0; start < rows.length; start += MAX_PIECES_PER_REQUEST)
      await trx
        .insertInto('indicia')
        .values(rows.slice(start, start + MAX_PIECES_PER_REQUEST))
        .execute();
    await options.withinCommit?.(trx, result, { receipt: receipt ?? clientReceipt, indicia: issued });
  };
  const { companion } = options;
  if (companion === undefined) {
    await custody.execute(meterId, steps, record, options.authorization);
  } else {
    // A pooled customer's client package moves in the same module pass and commit; its key signs
    // the customer's receipt.
    ({ receipt } = await executeWithClientPackage(custody, { meterId, steps }, companion, record));
  }
  return Object.assign(issued, { receipt });
}
