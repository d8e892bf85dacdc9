import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Kysely, Transaction } from 'kysely';
import { appendAuditEvents } from '../audit/index.ts';
import type { AuthorityService } from '../authority/index.ts';
import { isIndiciaError } from '../errors/index.ts';
import type { CustodyService } from '../custody/index.ts';
import { type Mills, add, formatUsd, nonNegativeMills } from '../money/index.ts';
import { type DatabaseSchema, type MeterStatus, withoutCommitParticipant } from '../store/index.ts';
import type { CommandStep } from '../vault/index.ts';
import { moveBalance } from './balances.ts';
import {
  type PooledRequest,
  clientPackageCommand,
  hasClientPackage,
  noClientPackage,
  receiptStepsFor,
} from './client-packages.ts';
import { type IssuedIndicia, type PieceRequest, fundMeter, issueIndicia } from './issuance.ts';
import { mailingWindow, refuseUnprintableDates } from './mailing-date.ts';
import { type SignedReceipt, storeReceipt } from './receipts.ts';
import { recordWithdrawal } from './lifecycle.ts';
import { activeMasterMeter, checkOutIdle, insertCheckout, recordTransfer } from './pool-records.ts';
import { MeterError } from './meter-error.ts';
import { generateMeter, nextSerial } from './meter-gen.ts';
import type { MeterSettings } from './meter-settings.ts';

/** Model ids of vendor-held PSDs: the master (global) PSD and pooled mini-PSDs. */
export const MASTER_MODEL_ID = '1G';
export const POOLED_MODEL_ID = '1P';
/** Mini-PSDs one crypto module serves at once (seed 003). */
export const MPSDS_PER_MODULE = 8;
/** The seed's pre-set transfer from the master PSD to a mini-PSD: $1,000. */
export const DEFAULT_POOL_INCREMENT = 1_000_000 as Mills;
const MASTER_MAX_DR = (2 ** 47) as Mills;

export interface PoolDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly custody: CustodyService;
  readonly authority: AuthorityService;
  readonly settings: MeterSettings;
  /** Modules serving this server: mini-PSDs checked out = 8 per module. */
  readonly modules: number;
  /** One digit in every mini-PSD serial this server creates (seed 003's machine number). */
  readonly machineNumber?: number;
  /** Whose check-outs these are; a restarted server with the same name takes its own back. */
  readonly holder?: string;
  readonly increment?: Mills;
}

export interface PoolStatusReport {
  readonly masterMeterId: string | null;
  readonly master: { readonly ascendingRegister: Mills; readonly descendingRegister: Mills } | null;
  readonly miniPsds: readonly {
    readonly meterId: string;
    /** `withdrawn` for good, or `active` (printing, or idle when no server has it checked out). */
    readonly status: MeterStatus;
    readonly checkedOutBy: string | null;
  }[];
  readonly incrementMills: Mills;
}

export interface PoolService {
  /** Creates the vendor's master PSD (once): model 1G, funded only by purchases from the authority. */
  setUp(licensingZip: string): Promise<{ masterMeterId: string }>;
  /** Postage bought from the postal authority, into the master PSD's DR. */
  purchase(amount: number, reference: string): Promise<{ id: string; descendingRegister: Mills }>;
  /**
   * Money a customer prepaid into their balance (the payment itself is the API's business). A
   * customer with a client package has it funded in the same commit (with a device's request).
   */
  deposit(
    customerNumber: number,
    amount: number,
    reference: string,
    request?: PooledRequest,
  ): Promise<{ balance: Mills; receipt: SignedReceipt | null }>;
  balance(customerNumber: number): Promise<Mills>;
  /**
   * Indicia for a customer from a checked-out mini-PSD, paid from the customer's balance; the
   * client package, if any, is debited in the same module pass and commit.
   */
  issue(
    customerNumber: number,
    pieces: readonly PieceRequest[],
    request?: PooledRequest,
  ): Promise<IssuedIndicia>;
  /**
   * Withdraws a mini-PSD for good: its DR goes back to the master PSD in the same module pass and
   * commit (GPSD.AR = Σ(MPSD.AR + MPSD.DR) keeps holding). It must be idle here or not checked out.
   */
  withdrawMiniPsd(meterId: string): Promise<{ meterId: string; returnedMills: Mills }>;
  status(): Promise<PoolStatusReport>;
  /** Returns this server's check-outs. */
  close(): Promise<void>;
}

interface CheckedOut {
  readonly meterId: string;
  descendingRegister: Mills;
  isBusy: boolean;
}

/**
 * Pooled mode (seed 003): one vendor licence, customers' prefunded balances, and a pool of
 * mini-PSDs this server checks out (up to {@link MPSDS_PER_MODULE} per module) to print for any
 * customer. A mini-PSD short of funds is topped up from the master PSD in whole increments, both
 * PSDs moving in one module pass and one commit; when none is free a new one is made (MeterGen,
 * serial = master number (4) + machine (1) + PSD number (3)) and funded.
 */
export function createPoolService(dependencies: PoolDependencies): PoolService {
  const { db, custody } = dependencies;
  const increment = dependencies.increment ?? DEFAULT_POOL_INCREMENT;
  const machineNumber = dependencies.machineNumber ?? 0;
  const holder = dependencies.holder ?? `${hostname()}#${process.pid}`;
  const capacity = MPSDS_PER_MODULE * Math.max(1, dependencies.modules);
  const checkedOut = new Map<string, CheckedOut>();
  const waiting: (() => void)[] = [];
  const customerQueues = new Map<number, Promise<unknown>>();

  const masterMeter = () => activeMasterMeter(db);

  const requireMaster = async (): Promise<{ meter_id: string; licensing_zip: string }> => {
    const master = await masterMeter();
    if (master === undefined)
      throw new MeterError(
        'meter.pool_not_set_up',
        'Pooled mode is not set up: run `indicia pool setup` first.',
      );
    return master;
  };

  const oneCustomerAtATime = <T>(customerNumber: number, work: () => Promise<T>): Promise<T> => {
    const previous = customerQueues.get(customerNumber) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    customerQueues.set(customerNumber, settled);
    void settled.then(() => {
      if (customerQueues.get(customerNumber) === settled) customerQueues.delete(customerNumber);
    });
    return next;
  };

  const validCustomer = (customerNumber: number): number => {
    if (!Number.isSafeInteger(customerNumber) || customerNumber < 1 || customerNumber >= 2 ** 40)
      throw new MeterError(
        'meter.request_invalid',
        'The customer number must be a whole number from 1 to 2^40 − 1.',
      );
    return customerNumber;
  };

  const balanceOf = async (customerNumber: number): Promise<Mills> => {
    const row = await db
      .selectFrom('customer_balances')
      .select('balance_mills')
      .where('customer_number', '=', customerNumber)
      .executeTakeFirst();
    return (row?.balance_mills ?? 0) as Mills;
  };

  /** A new mini-PSD, made by MeterGen, checked out to this server in the same breath. */
  const createMiniPsd = async (master: { meter_id: string; licensing_zip: string }): Promise<string> => {
    const masterNumber = Number(master.meter_id.slice(-8)) % 10_000;
    const psdNumber = await nextSerial(db, `${POOLED_MODEL_ID}-${masterNumber}-${machineNumber}`);
    if (psdNumber > 999)
      throw new MeterError(
        'meter.request_invalid',
        `Machine ${machineNumber} has used all 999 mini-PSD numbers.`,
      );
    const generated = await generateMeter(
      dependencies,
      {
        customerNumber: 0,
        licensingZip: master.licensing_zip,
        maxDescendingRegister: (increment * 100) as Mills,
      },
      {
        mode: 'pooled',
        modelId: POOLED_MODEL_ID,
        serial: masterNumber * 10_000 + machineNumber * 1_000 + psdNumber,
      },
    );
    await insertCheckout(db, generated.meterId, holder);
    return generated.meterId;
  };

  /** A free mini-PSD of this server's, exclusively, until released. */
  const acquire = async (): Promise<CheckedOut> => {
    for (;;) {
      const free = [...checkedOut.values()].find((entry) => !entry.isBusy);
      if (free !== undefined) {
        free.isBusy = true;
        return free;
      }
      if (checkedOut.size < capacity) {
        const reservation = `reserving-${randomUUID()}`;
        const reserved: CheckedOut = { meterId: reservation, descendingRegister: 0 as Mills, isBusy: true };
        checkedOut.set(reservation, reserved);
        try {
          const meterId =
            (await checkOutIdle(db, holder, (meterId) => checkedOut.has(meterId))) ??
            (await createMiniPsd(await requireMaster()));
          const psd = await custody.readMeter(meterId);
          const entry: CheckedOut = { meterId, descendingRegister: psd.descendingRegister, isBusy: true };
          checkedOut.set(meterId, entry);
          return entry;
        } finally {
          checkedOut.delete(reservation);
        }
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
  };

  const release = (entry: CheckedOut): void => {
    entry.isBusy = false;
    waiting.shift()?.();
  };

  /** Moves whole increments from the master PSD into the mini-PSD until it can pay `needed`. */
  const topUp = async (entry: CheckedOut, needed: Mills): Promise<void> => {
    if (entry.descendingRegister >= needed) return;
    const master = await requireMaster();
    const increments = Math.ceil((needed - entry.descendingRegister) / increment);
    const amount = (increments * increment) as Mills;
    const id = `xfer_${randomUUID()}`;
    try {
      const [, intoMini] = await custody.executeTogether(
        [
          { meterId: master.meter_id, steps: [{ operation: { type: 'transfer', amount } }] },
          { meterId: entry.meterId, steps: [{ operation: { type: 'fund', amount } }] },
        ],
        async (trx, [masterResult, miniResult]) => {
          const now = new Date().toISOString();
          await recordTransfer(trx, {
            id,
            masterMeterId: master.meter_id,
            meterId: entry.meterId,
            amount,
            masterSequence: masterResult?.transaction.packageSequence ?? 0,
            packageSequence: miniResult?.transaction.packageSequence ?? 0,
          });
          await trx
            .insertInto('meter_fundings')
            .values({
              id: `fund_${randomUUID()}`,
              meter_id: entry.meterId,
              amount_mills: amount,
              source: `master:${master.meter_id}:${id}`,
              package_sequence: miniResult?.transaction.packageSequence ?? 0,
              created_at: now,
            })
            .execute();
        },
      );
      entry.descendingRegister = intoMini?.view.descendingRegister ?? entry.descendingRegister;
    } catch (error) {
      if (isIndiciaError(error) && error.code === 'psd.insufficient_funds') {
        const held = error.details?.['descendingRegisterMills'];
        const holds = typeof held === 'number' ? `holds ${formatUsd(held as Mills)} and ` : '';
        throw new MeterError(
          'meter.pool_empty',
          `The master PSD ${holds}cannot fund ${formatUsd(amount)} (mini-PSDs are topped up in whole increments of ${formatUsd(increment)}): buy postage from the authority (indicia pool purchase).`,
          { details: { neededMills: amount, incrementMills: increment } },
        );
      }
      throw error;
    }
  };

  return {
    async setUp(licensingZip) {
      const existing = await masterMeter();
      if (existing !== undefined) return { masterMeterId: existing.meter_id };
      const generated = await generateMeter(
        dependencies,
        { customerNumber: 0, licensingZip, maxDescendingRegister: MASTER_MAX_DR },
        { mode: 'master', modelId: MASTER_MODEL_ID },
      );
      return { masterMeterId: generated.meterId };
    },

    async purchase(amount, reference) {
      const master = await requireMaster();
      const funded = await fundMeter(dependencies, master.meter_id, amount, `authority:${reference}`, {
        mode: 'master',
      });
      return { id: funded.id, descendingRegister: funded.view.descendingRegister };
    },

    async deposit(customerNumber, amountValue, reference, request = {}) {
      validCustomer(customerNumber);
      const amount = nonNegativeMills(amountValue);
      if (amount === 0) throw new MeterError('meter.request_invalid', 'A deposit must be more than zero.');
      return oneCustomerAtATime(customerNumber, async () => {
        const write = async (trx: Transaction<DatabaseSchema>): Promise<void> => {
          await moveBalance(trx, customerNumber, amount, 'deposit', reference);
          await appendAuditEvents(trx, [
            { kind: 'pool.deposit', details: { customerNumber, amountMills: amount } },
          ]);
        };
        let receipt: SignedReceipt | null = null;
        if (await hasClientPackage(db, customerNumber)) {
          const receiptSteps = receiptStepsFor(request, customerNumber, 'funds', amount, 0, reference);
          const { meterId, steps, authorization } = clientPackageCommand(
            customerNumber,
            amount,
            receiptSteps,
            request.authorization,
          );
          await custody.execute(
            meterId,
            steps,
            async (trx, result) => {
              const signed = result.signatures[0];
              if (signed !== undefined && result.view.certificateSerial !== null)
                receipt = await storeReceipt(trx, signed, result.view.certificateSerial);
              await write(trx);
              await request.withinCommit?.(trx, result, { receipt, fundingId: reference });
            },
            authorization,
          );
        } else {
          if (request.authorization !== undefined) throw noClientPackage(customerNumber);
          await db.transaction().execute(write);
        }
        return { balance: await balanceOf(customerNumber), receipt };
      });
    },

    balance: (customerNumber) => balanceOf(validCustomer(customerNumber)),

    async issue(customerNumber, pieces, request = {}) {
      validCustomer(customerNumber);
      if (pieces.length === 0) throw new MeterError('meter.request_invalid', 'Ask for at least one piece.');
      let total = 0 as Mills;
      for (const piece of pieces) {
        const postage = nonNegativeMills(piece.postage);
        if (postage === 0)
          throw new MeterError('meter.request_invalid', 'The postage must be more than zero.');
        total = add(total, postage);
      }
      // Before a mini-PSD is checked out or topped up (issuance checks again, with its certificate).
      const window = mailingWindow(new Date(), dependencies.settings);
      refuseUnprintableDates(
        pieces.map((piece) => piece.mailingDate ?? window.today),
        window,
      );
      if (total > increment * 100) {
        throw new MeterError(
          'meter.request_invalid',
          `One pooled request may print at most ${formatUsd((increment * 100) as Mills)}; split it.`,
        );
      }
      return oneCustomerAtATime(customerNumber, async () => {
        const balance = await balanceOf(customerNumber);
        if (balance < total) {
          throw new MeterError(
            'meter.insufficient_balance',
            `Customer ${customerNumber} has ${formatUsd(balance)}; ${formatUsd(total)} is needed. Add funds first.`,
            { details: { balanceMills: balance, neededMills: total } },
          );
        }
        const hasPackage = await hasClientPackage(db, customerNumber);
        if (!hasPackage && request.authorization !== undefined) throw noClientPackage(customerNumber);
        const entry = await withoutCommitParticipant(acquire);
        try {
          // A correction printed on this mini-PSD elsewhere may have spent what we counted on:
          // the registers are re-read and the request tried once more.
          for (let attempt = 1; ; attempt += 1) {
            try {
              // The top-up is the pool's, not the request's effect (its Idempotency-Key marks the issue).
              await withoutCommitParticipant(() => topUp(entry, total));
              const issued = await issueIndicia(dependencies, entry.meterId, pieces, {
                customerNumber,
                mode: 'pooled',
                maxPieces: request.maxPieces,
                withinCommit: async (trx, result, records) => {
                  await moveBalance(trx, customerNumber, 0 - total, 'postage', entry.meterId);
                  await request.withinCommit?.(trx, result, records);
                },
                ...(hasPackage
                  ? {
                      companion: clientPackageCommand(
                        customerNumber,
                        0 - total,
                        receiptStepsFor(
                          request,
                          customerNumber,
                          'indicia',
                          total,
                          pieces.length,
                          entry.meterId,
                        ),
                        request.authorization,
                      ),
                    }
                  : {}),
              });
              const last = issued.at(-1);
              if (last !== undefined) entry.descendingRegister = last.descendingRegister;
              return issued;
            } catch (error) {
              // A failed command may have moved nothing or all: the registers are re-read.
              entry.descendingRegister = (await custody.readMeter(entry.meterId)).descendingRegister;
              const isShort =
                error instanceof Error && 'code' in error && error.code === 'psd.insufficient_funds';
              if (!isShort || attempt === 2) throw error;
            }
          }
        } finally {
          release(entry);
        }
      });
    },

    async withdrawMiniPsd(meterId) {
      const meter = await db
        .selectFrom('meters')
        .leftJoin('mpsd_checkouts', 'mpsd_checkouts.meter_id', 'meters.meter_id')
        .select(['meters.mode', 'meters.status', 'mpsd_checkouts.holder'])
        .where('meters.meter_id', '=', meterId)
        .executeTakeFirst();
      if (meter === undefined) throw new MeterError('meter.not_found', `There is no meter ${meterId}.`);
      if (meter.mode !== 'pooled')
        throw new MeterError('meter.request_invalid', `Meter ${meterId} is not a pooled mini-PSD.`);
      if (meter.status === 'withdrawn')
        throw new MeterError('meter.not_active', `Mini-PSD ${meterId} is already withdrawn.`);
      if (meter.holder !== null && meter.holder !== holder) {
        throw new MeterError(
          'meter.not_active',
          `Mini-PSD ${meterId} is checked out by ${meter.holder}; withdraw it there, or after that server returns it.`,
        );
      }
      const mine = checkedOut.get(meterId);
      if (mine?.isBusy === true)
        throw new MeterError('meter.not_active', `Mini-PSD ${meterId} is printing; try again in a moment.`);
      if (mine !== undefined) mine.isBusy = true;
      else if (meter.holder === null) {
        // Held for the withdrawal, so no server checks it out meanwhile.
        await insertCheckout(db, meterId, holder);
      }
      try {
        const master = await requireMaster();
        const { descendingRegister: returned } = await custody.readMeter(meterId);
        const id = `refund_${randomUUID()}`;
        const commands: { meterId: string; steps: CommandStep[] }[] = [
          { meterId, steps: [{ operation: { type: 'withdraw' } }] },
        ];
        // The module takes value back into the master only beside the withdrawal that released it.
        if (returned > 0)
          commands.push({
            meterId: master.meter_id,
            steps: [{ operation: { type: 'return', amount: returned } }],
          });
        await custody.executeTogether(commands, async (trx, [miniResult, masterResult]) => {
          const sequence = miniResult?.transaction.packageSequence ?? 0;
          await recordWithdrawal(trx, { id, meterId, amount: returned, packageSequence: sequence });
          if (masterResult !== undefined) {
            await recordTransfer(trx, {
              id: `xfer_${randomUUID()}`,
              masterMeterId: master.meter_id,
              meterId,
              amount: (0 - returned) as Mills,
              masterSequence: masterResult.transaction.packageSequence,
              packageSequence: sequence,
            });
          }
          await trx.deleteFrom('mpsd_checkouts').where('meter_id', '=', meterId).execute();
        });
        checkedOut.delete(meterId);
        waiting.shift()?.();
        return { meterId, returnedMills: returned };
      } catch (error) {
        if (mine !== undefined) release(mine);
        else if (meter.holder === null) {
          await db.deleteFrom('mpsd_checkouts').where('meter_id', '=', meterId).execute();
        }
        throw error;
      }
    },

    async status() {
      const master = await masterMeter();
      const psd = master === undefined ? null : await custody.readMeter(master.meter_id);
      const rows = await db
        .selectFrom('meters')
        .leftJoin('mpsd_checkouts', 'mpsd_checkouts.meter_id', 'meters.meter_id')
        .select(['meters.meter_id', 'meters.status', 'mpsd_checkouts.holder'])
        .where('meters.mode', '=', 'pooled')
        .orderBy('meters.meter_id')
        .execute();
      return {
        masterMeterId: master?.meter_id ?? null,
        master:
          psd === null
            ? null
            : { ascendingRegister: psd.ascendingRegister, descendingRegister: psd.descendingRegister },
        miniPsds: rows.map((row) => ({
          meterId: row.meter_id,
          status: row.status,
          checkedOutBy: row.holder ?? null,
        })),
        incrementMills: increment,
      };
    },

    async close() {
      await db.deleteFrom('mpsd_checkouts').where('holder', '=', holder).execute();
      checkedOut.clear();
    },
  };
}
