import type { Transaction } from 'kysely';
import type { DatabaseSchema } from '../store/index.ts';
import type { PsdView } from '../vault/index.ts';
import type { EventOutbox } from './event-outbox.ts';

/** indicium.issued for a request that printed, and balance.low when the DR fell below the threshold. */
export async function publishIssued(
  events: EventOutbox,
  trx: Transaction<DatabaseSchema>,
  accountId: string,
  meterId: string,
  after: PsdView,
  pieces: number,
): Promise<void> {
  const registers = {
    ascendingRegisterMills: after.ascendingRegister,
    descendingRegisterMills: after.descendingRegister,
  };
  await events.publish(trx, accountId, 'indicium.issued', { meterId, pieces, ...registers });
  if (after.descendingRegister < events.lowBalanceMills)
    await events.publish(trx, accountId, 'balance.low', {
      meterId,
      thresholdMills: events.lowBalanceMills,
      ...registers,
    });
}
