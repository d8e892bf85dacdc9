import type { Kysely } from 'kysely';
import type { AuthorityService } from '../authority/index.ts';
import type { CommittedCommand, CustodyService } from '../custody/index.ts';
import type { Mills } from '../money/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import type { Transaction } from 'kysely';
import type { ClientAuthorization, CommandStep } from '../vault/index.ts';
import type { RecordsWithinCommit } from './committed-records.ts';
import { MeterError } from './meter-error.ts';
import { certifyMeterKey } from './meter-gen.ts';
import type { MeterSettings } from './meter-settings.ts';
import { type ReceiptBody, type SignedReceipt, newReceiptId, receiptStep, storeReceipt } from './receipts.ts';

/** A client package never holds more than this (it mirrors a prefunded balance). */
const CLIENT_PACKAGE_MAX = 100_000_000_000_000 as Mills;

/**
 * A pooled customer's **client package** `CLIENT-<customer number>`: a sealed package like a PSD's,
 * though no meter prints from it. It holds what the signed client protocol needs — the device's
 * HMK, the last challenge — and mirrors the customer's pooled account in its registers: DR is the
 * prefunded balance, AR the postage printed from it. Every balance move moves it in the same module
 * pass and commit, so the module checks a device's registers as for a dedicated meter. Its key,
 * certified by the authority, signs the customer's receipts.
 */
export function clientPackageId(customerNumber: number): string {
  return `CLIENT-${customerNumber}`;
}

/** Whether the pooled customer has a client package (customers set up before the API have none). */
export async function hasClientPackage(db: Kysely<DatabaseSchema>, customerNumber: number): Promise<boolean> {
  const row = await db
    .selectFrom('psd_packages')
    .select('meter_id')
    .where('meter_id', '=', clientPackageId(customerNumber))
    .executeTakeFirst();
  return row !== undefined;
}

/** Makes a pooled customer's client package (balance 0) and certifies its key. */
export async function createClientPackage(
  dependencies: { custody: CustodyService; authority: AuthorityService; settings: MeterSettings },
  customerNumber: number,
  licensingZip: string,
): Promise<void> {
  const { custody, settings } = dependencies;
  const packageId = clientPackageId(customerNumber);
  const created = await custody.createMeterPackage({
    meterId: packageId,
    maxDescendingRegister: CLIENT_PACKAGE_MAX,
    licensingZip,
    keyValidityDays: settings.keyValidityDays,
  });
  const certificate = await certifyMeterKey(dependencies, packageId, created.view);
  await custody.execute(packageId, [
    { operation: { type: 'update', certificateSerial: certificate.serial } },
  ]);
}

/**
 * The client package's command for a balance move: a deposit or refund funds it, postage debits it,
 * and a request that moves no money (a date correction) still passes through it for the device check.
 */
export function clientPackageCommand(
  customerNumber: number,
  amount: number,
  extraSteps: readonly CommandStep[] = [],
  authorization?: ClientAuthorization,
): { meterId: string; steps: CommandStep[]; authorization?: ClientAuthorization | undefined } {
  const steps: CommandStep[] =
    amount > 0
      ? [{ operation: { type: 'fund', amount: amount as Mills } }]
      : amount < 0
        ? [{ operation: { type: 'debit', amount: (0 - amount) as Mills } }]
        : [{ operation: { type: 'update' } }];
  return { meterId: clientPackageId(customerNumber), steps: [...steps, ...extraSteps], authorization };
}

/** A pooled customer's own request: device-signed, answered with a receipt, more writes in its commit. */
export interface PooledRequest {
  readonly authorization?: ClientAuthorization;
  readonly receipt?: boolean;
  readonly withinCommit?: RecordsWithinCommit;
  /** Pieces one issuance may print, when a mailing list needs more than a request's usual limit. */
  readonly maxPieces?: number | undefined;
}

/** The receipt step for a pooled request, when one was asked for. */
export function receiptStepsFor(
  request: PooledRequest,
  customerNumber: number,
  kind: ReceiptBody['kind'],
  amount: number,
  pieces: number,
  reference: string,
): CommandStep[] {
  if (request.receipt !== true) return [];
  return [
    receiptStep(newReceiptId(), {
      kind,
      customerNumber,
      amount: amount as Mills,
      pieces,
      reference,
    }),
  ];
}

export function noClientPackage(customerNumber: number): MeterError {
  return new MeterError(
    'meter.device_not_enrolled',
    `Customer ${customerNumber} has no client package, so no device can sign for them; it is made when the account's e-mail address is confirmed.`,
  );
}

/**
 * A command on a meter (a mini-PSD) and the pooled customer's client package, in one module pass
 * and one commit: `record` writes the meter command's rows, and the receipt the client package's
 * key signed (its command's first signature) is stored beside them.
 */
export async function executeWithClientPackage(
  custody: CustodyService,
  command: { meterId: string; steps: CommandStep[] },
  client: ReturnType<typeof clientPackageCommand>,
  record: (
    trx: Transaction<DatabaseSchema>,
    result: CommittedCommand,
    receipt: SignedReceipt | null,
  ) => Promise<void>,
): Promise<{ result: CommittedCommand; receipt: SignedReceipt | null }> {
  let receipt: SignedReceipt | null = null;
  const [result] = await custody.executeTogether([command, client], async (trx, [own, theirs]) => {
    if (own === undefined || theirs === undefined)
      throw new MeterError('meter.request_invalid', 'The module skipped a command.');
    const signed = theirs.signatures[0];
    if (signed !== undefined && theirs.view.certificateSerial !== null)
      receipt = await storeReceipt(trx, signed, theirs.view.certificateSerial);
    await record(trx, own, receipt);
  });
  if (result === undefined) throw new MeterError('meter.request_invalid', 'The module skipped a command.');
  return { result, receipt };
}
