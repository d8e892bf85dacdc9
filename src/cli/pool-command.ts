import { hostname } from 'node:os';
import type { Config } from '../config/index.ts';
import { type OperatorServices, meterSettingsFor, withOperatorServices } from '../installation/index.ts';
import { type PoolService, createPoolService } from '../meters/index.ts';
import { formatUsd, parseDollars } from '../money/index.ts';
import { type CommandIo, UsageError, parseSubcommand } from './commands.ts';

export const POOL_USAGE = [
  'indicia pool setup --zip 12345                 pooled mode: create the master PSD (once)',
  'indicia pool purchase AMOUNT --reference TEXT  postage bought from the authority into the master PSD',
  'indicia pool deposit CUSTOMER AMOUNT [--reference TEXT]   prefund a customer balance',
  'indicia pool issue CUSTOMER --postage 0.73 --rate FC [--count N]   print from a mini-PSD',
  'indicia pool status                            master PSD registers and mini-PSD check-outs',
  'indicia pool withdraw MINI-PSD                 close a mini-PSD; its DR goes back to the master PSD',
].join('\n');

async function withPool<T>(config: Config, work: (pool: PoolService) => Promise<T>): Promise<T> {
  return withOperatorServices(config, async (services: OperatorServices) => {
    const pool = createPoolService({
      db: services.store.db,
      custody: services.custody,
      authority: services.authority,
      settings: meterSettingsFor(config),
      modules: 1,
      machineNumber: 9,
      holder: `${hostname()}#operator-cli`,
    });
    try {
      return await work(pool);
    } finally {
      await pool.close();
    }
  });
}

function customerNumber(text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text)) throw new UsageError('give the customer number, e.g. 1001');
  return Number(text);
}

/** `indicia pool <setup|purchase|deposit|issue|status|withdraw>` */
export async function poolCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  const { positionals, values, config } = parseSubcommand(
    rest,
    {
      zip: { type: 'string' },
      reference: { type: 'string' },
      postage: { type: 'string' },
      rate: { type: 'string' },
      count: { type: 'string' },
    },
    io,
  );
  const text = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  switch (sub) {
    case 'setup': {
      const zip = text('zip');
      if (zip === undefined)
        throw new UsageError('--zip is required (the licensing ZIP of the vendor licence)');
      const { masterMeterId } = await withPool(config, (pool) => pool.setUp(zip));
      io.write(`Master PSD ${masterMeterId} is set up; fund it with indicia pool purchase.\n`);
      return 0;
    }
    case 'purchase': {
      const [amount] = positionals;
      const reference = text('reference');
      if (amount === undefined || reference === undefined)
        throw new UsageError('usage: indicia pool purchase AMOUNT --reference TEXT');
      const bought = await withPool(config, (pool) => pool.purchase(parseDollars(amount), reference));
      io.write(
        `Purchase ${bought.id} recorded; the master PSD holds ${formatUsd(bought.descendingRegister)}.\n`,
      );
      return 0;
    }
    case 'deposit': {
      const [customer, amount] = positionals;
      if (amount === undefined) throw new UsageError('usage: indicia pool deposit CUSTOMER AMOUNT');
      const number = customerNumber(customer);
      const { balance } = await withPool(config, (pool) =>
        pool.deposit(number, parseDollars(amount), text('reference') ?? 'operator'),
      );
      io.write(`Customer ${number} now has ${formatUsd(balance)}.\n`);
      return 0;
    }
    case 'issue': {
      const number = customerNumber(positionals[0]);
      const postage = text('postage');
      const rate = text('rate');
      if (postage === undefined || rate === undefined)
        throw new UsageError('usage: indicia pool issue CUSTOMER --postage 0.73 --rate FC');
      const countText = text('count') ?? '1';
      if (!/^\d+$/.test(countText)) throw new UsageError('--count must be a whole number');
      const piece = { postage: parseDollars(postage), rateCategory: rate };
      const issued = await withPool(config, (pool) =>
        pool.issue(
          number,
          Array.from({ length: Number(countText) }, () => piece),
        ),
      );
      for (const indicium of issued) {
        io.write(
          `${indicium.id} ${indicium.meterId} ${formatUsd(indicium.postage)} ${indicium.data.toString('hex')}\n`,
        );
      }
      return 0;
    }
    case 'status': {
      const status = await withPool(config, (pool) => pool.status());
      if (status.masterMeterId === null || status.master === null) {
        io.write('Pooled mode is not set up (indicia pool setup --zip 12345).\n');
        return 0;
      }
      io.write(
        `Master PSD ${status.masterMeterId}: AR ${formatUsd(status.master.ascendingRegister)}, DR ${formatUsd(status.master.descendingRegister)}; increment ${formatUsd(status.incrementMills)}\n`,
      );
      for (const mini of status.miniPsds) {
        const state =
          mini.status !== 'active'
            ? mini.status
            : mini.checkedOutBy === null
              ? 'idle'
              : `checked out by ${mini.checkedOutBy}`;
        io.write(`  mini-PSD ${mini.meterId} ${state}\n`);
      }
      return 0;
    }
    case 'withdraw': {
      const [meterId] = positionals;
      if (meterId === undefined) throw new UsageError('usage: indicia pool withdraw MINI-PSD');
      const withdrawn = await withPool(config, (pool) => pool.withdrawMiniPsd(meterId));
      io.write(
        `Mini-PSD ${meterId} withdrawn; ${formatUsd(withdrawn.returnedMills)} went back to the master PSD.\n`,
      );
      return 0;
    }
    case undefined:
    default:
      throw new UsageError(
        `unknown pool command "${sub ?? ''}"; one of: setup, purchase, deposit, issue, status, withdraw`,
      );
  }
}
