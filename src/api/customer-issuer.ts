import type { Insertable, Transaction } from 'kysely';
import { AccountError, type AccountsService, type Principal } from '../accounts/index.ts';
import type { CommittedCommand } from '../custody/index.ts';
import type { LabelAddress } from '../labels/index.ts';
import {
  type IssuedIndicia,
  type IssuedIndicium,
  type MetersService,
  MeterError,
  type PieceRequest,
  type PoolService,
  type RecordsWithinCommit,
  clientPackageId,
  indiciaOfCommit,
} from '../meters/index.ts';
import type { LabelStock } from '../printing/index.ts';
import type { DatabaseSchema, PieceAddressesTable } from '../store/index.ts';
import type { ClientAuthorization } from '../vault/index.ts';
import type { EventOutbox } from './event-outbox.ts';
import { publishIssued } from './published-events.ts';

/** A piece a customer asks for, with what its label prints besides the indicium. */
export interface CustomerPiece extends PieceRequest {
  readonly from?: LabelAddress | undefined;
  readonly to?: LabelAddress | undefined;
}

export interface CustomerIssuerDependencies {
  readonly meters: Pick<MetersService, 'dedicatedMeterOf' | 'hasClientPackage' | 'issue'>;
  readonly pool: Pick<PoolService, 'issue'>;
  readonly events: EventOutbox;
  readonly accounts: Pick<AccountsService, 'checkPrintingAllowance' | 'countPrinting'>;
  readonly stock: LabelStock;
}

/** An issued indicium as the API answers with it. */
export const issuedJson = (indicium: IssuedIndicium) => ({
  id: indicium.id,
  meterId: indicium.meterId,
  data: indicium.data.toString('base64'),
  postageMills: indicium.postage,
  ascendingRegisterMills: indicium.ascendingRegister,
  descendingRegisterMills: indicium.descendingRegister,
  mailingDate: indicium.mailingDate,
});

/** Where a customer's value moves: their dedicated meter, or (pooled) their client package. */
export interface CustomerAccount {
  readonly pooled: boolean;
  readonly meterId: string;
  readonly customerNumber: number;
  /** The dedicated meter's licensing ZIP: the origin of its pieces unless they name one. */
  readonly licensingZip: string | null;
}

export interface CustomerIssuer {
  readonly accountOf: (principal: Principal) => Promise<CustomerAccount>;
  /**
   * Prints the pieces for a customer, device-signed: the session's printing allowance, labels of
   * serialized stock reserved first and marked used in the issuing commit (released if it fails),
   * the pieces' addresses, the events — all in the one module pass and commit.
   */
  issue(
    principal: Principal,
    pieces: readonly CustomerPiece[],
    request: {
      readonly authorization: ClientAuthorization;
      /** The account, when the caller looked it up already (to price the pieces). */
      readonly account?: CustomerAccount;
      readonly maxPieces?: number;
      /** A mailing list is printed at once, after one password check, whatever its size. */
      readonly isWholeList?: boolean;
      readonly withinCommit?: (trx: Transaction<DatabaseSchema>, result: CommittedCommand) => Promise<void>;
      /** The mailing list printed, named in the indicium.issued event. */
      readonly mailingListId?: string;
    },
  ): Promise<IssuedIndicia>;
}

/** Inside the issuing commit: serialized labels used, addresses kept for the pieces' labels. */
async function recordPieces(
  trx: Transaction<DatabaseSchema>,
  result: CommittedCommand,
  pieces: readonly CustomerPiece[],
  stock: LabelStock,
): Promise<void> {
  const ids = await indiciaOfCommit(trx, result, pieces.length);
  const addresses: Insertable<PieceAddressesTable>[] = [];
  for (const [index, piece] of pieces.entries()) {
    const id = ids[index];
    if (id === undefined) throw new Error('an issued indicium is missing from its commit');
    if (piece.labelSerial !== undefined && piece.labelSerial !== 0)
      await stock.markUsed(trx, piece.labelSerial, id);
    if (piece.from !== undefined || piece.to !== undefined)
      addresses.push({
        indicium_id: id,
        from_address: piece.from === undefined ? null : JSON.stringify(piece.from),
        to_address: piece.to === undefined ? null : JSON.stringify(piece.to),
        list_id: null,
        row_number: null,
      });
  }
  // One statement for a request's addresses (at most 1,000 pieces: within the parameter limits).
  if (addresses.length > 0) await trx.insertInto('piece_addresses').values(addresses).execute();
}

export function customerIssuer({
  meters,
  pool,
  events,
  accounts,
  stock,
}: CustomerIssuerDependencies): CustomerIssuer {
  const accountOf = async (principal: Principal): Promise<CustomerAccount> => {
    const { customerNumber, meterMode } = principal;
    if (customerNumber === null || meterMode === null)
      throw new AccountError('account.forbidden', 'Only customer accounts have a meter.');
    if (meterMode === 'pooled') {
      if (!(await meters.hasClientPackage(customerNumber)))
        throw new MeterError(
          'meter.device_not_enrolled',
          'This pooled account has no client package yet; it is made once the e-mail address is confirmed.',
        );
      return { pooled: true, meterId: clientPackageId(customerNumber), customerNumber, licensingZip: null };
    }
    // The record is enough: the module opens the package once, in the command itself.
    const found = await meters.dedicatedMeterOf(customerNumber);
    if (found === undefined)
      throw new MeterError(
        'meter.not_found',
        'You have no meter yet; it is made once your e-mail address is confirmed.',
      );
    return { pooled: false, meterId: found.meter_id, customerNumber, licensingZip: found.licensing_zip };
  };

  return {
    accountOf,
    async issue(principal, pieces, request) {
      const { pooled, meterId, customerNumber } = request.account ?? (await accountOf(principal));
      const count = pieces.length;
      await accounts.checkPrintingAllowance(principal, request.isWholeList === true ? 1 : count);
      const labels = pieces.flatMap((piece) =>
        piece.labelSerial === undefined || piece.labelSerial === 0 ? [] : [piece.labelSerial],
      );
      const reserved: number[] = [];
      try {
        for (const serial of labels) {
          await stock.reserve(principal.accountId, serial);
          reserved.push(serial);
        }
        const withinCommit: RecordsWithinCommit = async (trx, result, records) => {
          await accounts.countPrinting(trx, principal, count);
          await publishIssued(events, trx, principal.accountId, {
            records,
            // A pooled customer's low balance is their own, not the shared mini-PSD's.
            dedicatedMeter: pooled ? null : result.view,
            mailingListId: request.mailingListId,
          });
          if (labels.length > 0 || pieces.some((piece) => piece.from !== undefined || piece.to !== undefined))
            await recordPieces(trx, result, pieces, stock);
          await request.withinCommit?.(trx, result);
        };
        const plain = pieces.map(({ from: _from, to: _to, ...piece }) => piece);
        const { authorization, maxPieces } = request;
        const issued = pooled
          ? await pool.issue(customerNumber, plain, { authorization, receipt: true, withinCommit, maxPieces })
          : await meters.issue(meterId, plain, {
              authorization,
              receipt: { customerNumber },
              withinCommit,
              maxPieces,
            });
        events.flush();
        return issued;
      } catch (error) {
        for (const serial of reserved) await stock.release(serial);
        throw error;
      }
    },
  };
}
