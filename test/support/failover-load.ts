import { setTimeout as sleep } from 'node:timers/promises';
import { isIndiciaError } from '../../src/errors/index.ts';
import type { MetersService } from '../../src/meters/index.ts';
import type { Mills } from '../../src/money/index.ts';

/** An indicium the caller was given: issue() returned it, so it must be in the database. */
export interface AcknowledgedIndicium {
  readonly id: string;
  readonly meterId: string;
  /** base64, as stored. */
  readonly data: string;
  readonly postage: number;
  /** When the issue() call that returned it began, and when it returned (ms since the epoch). */
  readonly requestedAt: number;
  readonly at: number;
}

export interface AcknowledgedFunding {
  readonly id: string;
  readonly meterId: string;
  readonly amount: number;
}

/** Issuance (and now and then a funding) kept going by several issuers while the database fails over. */
export interface FailoverLoad {
  readonly acknowledged: ReadonlyMap<string, AcknowledgedIndicium>;
  readonly fundings: readonly AcknowledgedFunding[];
  /** Refusals by error code: what callers heard while the database was switching. */
  readonly refusals: ReadonlyMap<string, number>;
  /** The latest message heard for each refusal code. */
  readonly lastMessages: ReadonlyMap<string, string>;
  /** When each issuer's request now waiting for an answer began (ms since the epoch). */
  readonly inFlight: ReadonlyMap<number, number>;
  /** Errors that were not IndiciaErrors (a raw driver error or a stack trace would land here). */
  readonly unexpected: readonly unknown[];
  /** Resolves with the time of the first acknowledgement of a request begun after `time` (ms since the epoch). */
  nextAcknowledgementAfter(time: number, timeoutMs: number): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts `issuers` loops, each issuing one piece at a time on the meters in turn and pausing a
 * moment after a refusal, plus one loop funding a meter every `fundEveryMs` (0: never).
 */
export function startFailoverLoad(
  meters: MetersService,
  meterIds: readonly string[],
  options: { readonly issuers: number; readonly fundEveryMs?: number },
): FailoverLoad {
  const acknowledged = new Map<string, AcknowledgedIndicium>();
  const fundings: AcknowledgedFunding[] = [];
  const refusals = new Map<string, number>();
  const lastMessages = new Map<string, string>();
  const inFlight = new Map<number, number>();
  const unexpected: unknown[] = [];
  const waiters: { after: number; resolve: (at: number) => void }[] = [];
  let isStopping = false;

  const refused = async (error: unknown): Promise<void> => {
    if (isIndiciaError(error)) {
      refusals.set(error.code, (refusals.get(error.code) ?? 0) + 1);
      lastMessages.set(error.code, error.message);
    } else {
      unexpected.push(error);
    }
    await sleep(100);
  };
  const issuer = async (issuerIndex: number): Promise<void> => {
    for (let round = 0; !isStopping; round += 1) {
      const meterId = meterIds[(issuerIndex + round) % meterIds.length] ?? '';
      const requestedAt = Date.now();
      inFlight.set(issuerIndex, requestedAt);
      try {
        const issued = await meters.issue(meterId, [
          { postage: (400 + ((issuerIndex * 31 + round) % 300)) as Mills, rateCategory: 'FC' },
        ]);
        const at = Date.now();
        for (const piece of issued) {
          acknowledged.set(piece.id, {
            id: piece.id,
            meterId,
            data: piece.data.toString('base64'),
            postage: piece.postage,
            requestedAt,
            at,
          });
        }
        for (const waiter of waiters.filter((candidate) => requestedAt > candidate.after)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(at);
        }
      } catch (error) {
        await refused(error);
      } finally {
        inFlight.delete(issuerIndex);
      }
    }
  };
  const funder = async (every: number): Promise<void> => {
    for (let round = 0; !isStopping; round += 1) {
      await sleep(every);
      const meterId = meterIds[round % meterIds.length] ?? '';
      try {
        const funding = await meters.fund(meterId, 10_000, `failover-drill-${round}`);
        fundings.push({ id: funding.id, meterId, amount: funding.amount });
      } catch (error) {
        await refused(error);
      }
    }
  };
  const loops = Array.from({ length: options.issuers }, (_, index) => issuer(index));
  if ((options.fundEveryMs ?? 0) > 0) loops.push(funder(options.fundEveryMs ?? 0));

  return {
    acknowledged,
    fundings,
    refusals,
    lastMessages,
    inFlight,
    unexpected,
    nextAcknowledgementAfter: (time, timeoutMs) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no indicium was acknowledged within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = {
          after: time,
          resolve: (at: number) => {
            clearTimeout(timer);
            resolve(at);
          },
        };
        waiters.push(waiter);
      }),
    stop: async () => {
      isStopping = true;
      await Promise.all(loops);
    },
  };
}
