import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type {
  IndiciaClient,
  LabelAddress,
  LabelFormat,
  LabelLayout,
  MailingList,
  MailingListField,
} from '../client/index.ts';
import { formatUsd } from '../money/index.ts';
import type { Mills } from '../money/index.ts';
import { type CommandIo, UsageError } from './commands.ts';
import { amountOf, apiRefusal, load, parse, remember, statePath } from './client-state.ts';

export const PRINT_USAGE = [
  'indicia print (--postage 0.73 --rate FC | --class CODE --weight OZ) [--to "NAME;LINE1;CITY;ST;ZIP"]',
  '              [--label SERIAL | --sheet SERIAL]',
  '              [--layout indicium|envelope-10|label-4x6|sheet-label] [--format pdf|png|svg|zpl] --out FILE',
  '                                    print one piece and write its label (device-signed, like client print)',
  'indicia print --id IND --layout L --format F --out FILE   the label of an indicium printed before',
  'indicia print test [--layout L] --out FILE                a test print (sample indicia; no value moves)',
  'indicia batch import FILE.csv [--name N] [--postage 0.73] [--rate FC] [--class CODE] [--map field=Header,...]',
  '                                    import a mailing list; every row is checked (docs/labels.md)',
  'indicia batch show ID [--rows errors|all]   the review: rows, errors, total postage',
  'indicia batch print ID [--layout envelope-10] --out FILE.pdf   print the whole list in one batch;',
  '                                    a progress bar follows the PDF, which is then saved to FILE.pdf',
].join('\n');

const LAYOUTS = ['indicium', 'envelope-10', 'label-4x6', 'sheet-label'] as const;
const FORMATS = ['pdf', 'png', 'svg', 'zpl'] as const;

function choice<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  flag: string,
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value))
    throw new UsageError(`${flag} is one of ${allowed.join(', ')}`);
  return value as T;
}

/** `--to "NAME;LINE1;CITY;ST;ZIP"` (or with LINE2 after LINE1: six parts). */
function addressOf(text: string): LabelAddress {
  const parts = text.split(';').map((part) => part.trim());
  const [name = '', line1 = '', ...rest] = parts;
  if (rest.length === 3) {
    const [city = '', state = '', zip = ''] = rest;
    return { name, line1, city, state, zip };
  }
  if (rest.length === 4) {
    const [line2 = '', city = '', state = '', zip = ''] = rest;
    return { name, line1, line2, city, state, zip };
  }
  throw new UsageError('--to is "NAME;LINE1;CITY;ST;ZIP" (or "NAME;LINE1;LINE2;CITY;ST;ZIP")');
}

function write(io: CommandIo, out: string | undefined, file: string | Uint8Array): void {
  if (out === undefined) throw new UsageError('--out FILE is required: where the label is written');
  const path = resolve(io.cwd, out);
  writeFileSync(path, file);
  io.write(`Wrote ${path}\n`);
}

/** A one-line progress bar on standard error: `[#####.....]  5,000 / 10,000 pages`. */
function progressBar(done: number, total: number): string {
  const width = 30;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} pages`;
}

function summary(list: MailingList): string {
  return `${list.id}  ${list.name}  ${list.state}  ${list.rows.toLocaleString('en-US')} rows, ${list.errorRows.toLocaleString('en-US')} with errors, total postage ${formatUsd(list.totalPostageMills as Mills)}\n`;
}

async function showErrors(
  io: CommandIo,
  client: IndiciaClient,
  list: MailingList,
  all: boolean,
): Promise<void> {
  const page = await client.printing.mailingListRows(list.id, { errorsOnly: !all, limit: 50 });
  for (const row of page.rows) {
    const what =
      row.errors === null
        ? `${row.piece?.name ?? ''}, ${row.piece?.city ?? ''} ${row.piece?.state ?? ''} ${row.piece?.zip ?? ''}  ${formatUsd((row.piece?.postageMills ?? 0) as Mills)}`
        : row.errors.map((error) => `${error.field}: ${error.message}`).join('; ');
    io.write(`  row ${row.row}: ${what}\n`);
  }
  if (page.nextAfter !== null) io.write(`  … more: GET /v1/mailing-lists/${list.id}/rows\n`);
}

/** `indicia print …`: one piece's label (printed now, or before), or a test print. */
export async function printCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(args, {
    postage: { type: 'string' },
    rate: { type: 'string' },
    class: { type: 'string' },
    weight: { type: 'string' },
    to: { type: 'string' },
    label: { type: 'string' },
    sheet: { type: 'string' },
    layout: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
    id: { type: 'string' },
  });
  if (positionals.length > 0 && positionals[0] !== 'test')
    throw new UsageError(`unknown print command "${positionals[0] ?? ''}"; see indicia --help`);
  const layout = choice<LabelLayout>(values['layout'], LAYOUTS, '--layout', 'indicium');
  const format = choice<LabelFormat>(values['format'], FORMATS, '--format', 'pdf');
  const path = statePath(io, values['state']);
  const { state, client } = await load(path);
  try {
    if (positionals[0] === 'test') {
      write(io, values['out'], await client.printing.testPrint({ layout, format }));
      return 0;
    }
    let id = values['id'];
    if (id === undefined) {
      const to = values['to'] === undefined ? undefined : addressOf(values['to']);
      const rateClass = values['class'];
      const rate = values['rate'];
      if (rateClass === undefined && (values['postage'] === undefined || rate === undefined))
        throw new UsageError(
          'print needs --postage and --rate (e.g. 0.73 FC), or --class and --weight to have it rated',
        );
      const piece = {
        // Rated from the rate tables (an entered --postage is then checked against the rate), or as given.
        ...(rateClass === undefined
          ? {}
          : {
              rateClass,
              weightOunces: Number(values['weight']),
              ...(to === undefined ? {} : { destinationZip: to.zip }),
            }),
        ...(values['postage'] === undefined
          ? {}
          : { postageMills: amountOf(values['postage'], '--postage') }),
        ...(rate === undefined ? {} : { rateCategory: rate }),
        ...(to === undefined ? {} : { to }),
        ...(values['label'] === undefined ? {} : { labelSerial: Number(values['label']) }),
      };
      const sheet = values['sheet'];
      const printed =
        sheet === undefined
          ? (await client.issueIndicia([piece])).indicia[0]
          : (await client.printing.printOnSheet(Number(sheet), piece)).indicium;
      if (printed === undefined) throw new UsageError('the server printed nothing');
      id = printed.id;
      io.write(`Printed ${id} (${formatUsd(printed.postageMills as Mills)}).\n`);
    }
    write(io, values['out'], await client.label(id, { layout, format }));
    return 0;
  } catch (error) {
    return apiRefusal(error);
  } finally {
    remember(path, state, client);
  }
}

/** `indicia batch …`: mailing lists — import, review, print with a progress bar. */
export async function batchCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const [sub, target, ...rest] = args;
  const { values } = parse(rest, {
    name: { type: 'string' },
    postage: { type: 'string' },
    rate: { type: 'string' },
    map: { type: 'string' },
    class: { type: 'string' },
    rows: { type: 'string' },
    layout: { type: 'string' },
    out: { type: 'string' },
  });
  if (target === undefined)
    throw new UsageError(`batch ${sub ?? ''} needs a file or list id; see indicia --help`);
  const path = statePath(io, values['state']);
  const { state, client } = await load(path);
  try {
    switch (sub) {
      case 'import': {
        const mapping: Partial<Record<MailingListField, string>> = {};
        for (const pair of values['map']?.split(',') ?? []) {
          const [field, header] = pair.split('=');
          if (field === undefined || header === undefined)
            throw new UsageError('--map is field=Header,field=Header');
          mapping[field.trim() as MailingListField] = header.trim();
        }
        const list = await client.printing.importMailingList(readFileSync(resolve(io.cwd, target)), {
          name: values['name'] ?? target,
          ...(Object.keys(mapping).length === 0 ? {} : { mapping }),
          ...(values['postage'] === undefined
            ? {}
            : { postageMills: amountOf(values['postage'], '--postage') }),
          ...(values['rate'] === undefined ? {} : { rateCategory: values['rate'] }),
          ...(values['class'] === undefined ? {} : { rateClass: values['class'] }),
        });
        io.write(summary(list));
        if (list.errorRows > 0) await showErrors(io, client, list, false);
        else
          io.write(
            `Review it (indicia batch show ${list.id} --rows all), then: indicia batch print ${list.id} --out list.pdf\n`,
          );
        return list.errorRows > 0 ? 1 : 0;
      }
      case 'show': {
        const list = await client.printing.mailingList(target);
        io.write(summary(list));
        if (values['rows'] !== undefined || list.errorRows > 0)
          await showErrors(
            io,
            client,
            list,
            choice(values['rows'], ['errors', 'all'], '--rows', 'errors') === 'all',
          );
        return 0;
      }
      case 'print': {
        const list = await client.printing.mailingList(target);
        const layout = choice<LabelLayout>(values['layout'], LAYOUTS, '--layout', 'envelope-10');
        if (values['out'] === undefined) throw new UsageError('--out FILE.pdf is required');
        const printed = await client.printing.printMailingList(list, { layout });
        io.write(
          `Printed ${printed.issued.pieces.toLocaleString('en-US')} pieces, ${formatUsd(printed.issued.totalPostageMills as Mills)}, in one batch; receipt ${printed.receipt.id}. Rendering the PDF:\n`,
        );
        await client.printing.waitForPdf(list.id, (progress) =>
          process.stderr.write(progressBar(progress.progress.pagesDone, progress.progress.pages)),
        );
        process.stderr.write('\n');
        write(io, values['out'], await client.printing.mailingListPdf(list.id));
        return 0;
      }
      case undefined:
      default:
        throw new UsageError(`unknown batch command "${sub ?? ''}"; the commands are import, show and print`);
    }
  } catch (error) {
    return apiRefusal(error);
  } finally {
    remember(path, state, client);
  }
}
