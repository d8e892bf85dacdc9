import { zipData } from '../addresses/index.ts';
import { formatUsd } from '../money/index.ts';
import type { Mills } from '../money/index.ts';
import {
  type EnvelopeKind,
  type PaperWeight,
  RateError,
  RatesService,
  pieceOunces,
  rateTableDirectories,
  zipAreas,
  zoneBetween,
} from '../rates/index.ts';
import { type CommandIo, UsageError, parseSubcommand } from './commands.ts';

export const RATES_USAGE = [
  'indicia rates tables                the rate tables loaded (shipped and <data dir>/rates), by effective date',
  'indicia rates quote --class CODE (--weight OZ | --sheets N [--paper 20lb] [--envelope #10])',
  '                    [--from ZIP --to ZIP] [--date YYYY-MM-DD] [--surcharge CODE]   what a piece costs',
  'indicia rates zone FROM_ZIP TO_ZIP  the zone between two ZIPs (distance bands, or a loaded zone chart)',
].join('\n');

/** `indicia rates …`: the tables an operator loaded, quotes and zones, without a server. */
export function ratesCommand(args: readonly string[], io: CommandIo): number {
  const [sub, ...rest] = args;
  const { values, positionals, config } = parseSubcommand(
    rest,
    {
      class: { type: 'string' },
      weight: { type: 'string' },
      sheets: { type: 'string' },
      paper: { type: 'string' },
      envelope: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      date: { type: 'string' },
      surcharge: { type: 'string' },
    },
    io,
  );
  const text = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };
  try {
    switch (sub) {
      case 'tables': {
        const rates = new RatesService(rateTableDirectories(config.dataDir));
        const tables = rates.book.list();
        if (tables.length === 0)
          io.write(
            'No rate tables are loaded: the shipped ones are missing from rates/ of this installation; put tables in <data dir>/rates/ (docs/rates.md).\n',
          );
        for (const table of tables)
          io.write(
            `${table.effective}  ${table.id}  version ${table.version}  ${table.classes.join(', ')}\n  source: ${table.source}\n`,
          );
        return 0;
      }
      case 'quote': {
        const classCode = text('class');
        if (classCode === undefined)
          throw new UsageError('quote needs --class CODE (indicia rates tables lists them)');
        const sheets = text('sheets');
        const weightOunces =
          text('weight') !== undefined
            ? Number(text('weight'))
            : sheets !== undefined
              ? pieceOunces({
                  sheets: Number(sheets),
                  paper: (text('paper') ?? '20lb') as PaperWeight,
                  envelope: (text('envelope') ?? '#10') as EnvelopeKind,
                })
              : Number.NaN;
        const rates = new RatesService(rateTableDirectories(config.dataDir));
        const surcharge = text('surcharge');
        const quote = rates.quote({
          classCode,
          weightOunces,
          ...(text('from') === undefined ? {} : { originZip: text('from') }),
          ...(text('to') === undefined ? {} : { destinationZip: text('to') }),
          ...(text('date') === undefined ? {} : { mailingDate: text('date') }),
          ...(surcharge === undefined ? {} : { surcharges: [surcharge] }),
        });
        const zone =
          quote.zone === null
            ? ''
            : `, zone ${quote.zone.zone}${quote.zone.miles === null ? ' (zone chart)' : ` (${Math.round(quote.zone.miles)} mi)`}`;
        io.write(
          `${formatUsd(quote.priceMills as Mills)}  ${quote.className}, ${weightOunces} oz (up to ${quote.weightBreak} ${quote.weightUnit})${zone}\n  table ${quote.table.id} (effective ${quote.table.effective}, version ${quote.table.version}); source: ${quote.table.source}\n`,
        );
        return 0;
      }
      case 'zone': {
        const [from, to] = positionals;
        if (from === undefined || to === undefined) throw new UsageError('zone needs two ZIPs');
        const zone = zoneBetween(from, to, zipAreas(zipData()));
        if (zone === null)
          throw new UsageError(`no zone between ${from} and ${to}: a ZIP area is not in the reference data`);
        io.write(
          `zone ${zone.zone}${zone.miles === null ? '' : ` (${Math.round(zone.miles)} miles between the 3-digit ZIP areas)`}\n`,
        );
        return 0;
      }
      case undefined:
      default:
        throw new UsageError(`unknown rates command "${sub ?? ''}"; the commands are tables, quote and zone`);
    }
  } catch (error) {
    if (error instanceof RateError) {
      process.stderr.write(`indicia: ${error.message} (${error.code})\n`);
      return 1;
    }
    throw error;
  }
}
