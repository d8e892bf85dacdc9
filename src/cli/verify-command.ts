import { existsSync, readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { IndiciaClient, type IndiciumCheck } from '../client/index.ts';
import { formatUsd } from '../money/index.ts';
import type { Mills } from '../money/index.ts';
import { readBarcodes } from '../scanning/index.ts';
import { type CommandIo, UsageError } from './commands.ts';
import { apiRefusal, parse, statePath } from './client-state.ts';

export const VERIFY_USAGE = [
  'indicia verify FILE... [--url URL]   check printed indicia with the public check (records nothing):',
  '                                    FILE is a label image (.png, .jpg: every barcode on it is read),',
  '                                    an indicium’s bytes (.bin), or the bytes as hex or base64;',
  '                                    URL defaults to the enrolled client’s server, else INDICIA_URL',
].join('\n');

const IMAGES = new Set(['.png', '.jpg', '.jpeg', '.gif', '.bmp', '.webp']);

/** The indicia a command-line argument stands for: barcodes in an image, a .bin file, or text. */
async function indiciaOf(argument: string, io: CommandIo): Promise<Buffer[]> {
  const path = resolve(io.cwd, argument);
  if (existsSync(path)) {
    const bytes = readFileSync(path);
    if (!IMAGES.has(extname(path).toLowerCase())) return [bytes];
    const found = await readBarcodes(bytes);
    if (found.length === 0)
      throw new UsageError(
        `${argument}: no DataMatrix or PDF417 barcode found in the image; print or render it at 300 dpi or more`,
      );
    return found;
  }
  if (/^([0-9a-f]{2})+$/i.test(argument)) return [Buffer.from(argument, 'hex')];
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(argument) && argument.length % 4 === 0)
    return [Buffer.from(argument, 'base64')];
  throw new UsageError(`${argument}: no such file, and not an indicium in hex or base64`);
}

function serverUrl(io: CommandIo, given: string | undefined, state: string | undefined): string {
  if (given !== undefined) return given;
  const path = statePath(io, state);
  if (existsSync(path)) return (JSON.parse(readFileSync(path, 'utf8')) as { url: string }).url;
  const url = io.env['INDICIA_URL'];
  if (url !== undefined && url !== '') return url;
  throw new UsageError('verify needs the server: --url URL, INDICIA_URL, or an enrolled client');
}

function describe(check: IndiciumCheck): string {
  const fields = check.indicium;
  const what =
    fields === null
      ? ''
      : `  meter ${fields.meterNumber}  ${formatUsd(fields.postageMills as Mills)} ${fields.rateCategory.trim()}  mailed ${fields.mailingDate} from ${fields.originZip}  AR ${formatUsd(fields.ascendingRegisterMills as Mills)}`;
  const verdict = check.genuine ? 'GENUINE' : `NOT GENUINE (${check.outcome})`;
  const reason = check.reason === null ? '' : `  ${check.reason}`;
  const seen = check.genuine ? `  ${check.seenBefore ? 'scanned before' : 'never scanned'}` : '';
  return `${verdict}${what}${seen}${reason}`;
}

/**
 * `indicia verify FILE...`: what anyone can do with a printed piece — read its barcode and ask the
 * public check whether the meter really signed it. Exits 0 only when every indicium is genuine.
 */
export async function verifyCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(args, { url: { type: 'string' } });
  if (positionals.length === 0) throw new UsageError('verify needs a label image, a .bin file or the bytes');
  const client = new IndiciaClient({ baseUrl: serverUrl(io, values['url'], values['state']) });
  let isAllGenuine = true;
  try {
    for (const argument of positionals)
      for (const indicium of await indiciaOf(argument, io)) {
        const check = await client.verification.check(indicium.toString('base64'));
        isAllGenuine &&= check.genuine;
        io.write(`${argument}: ${describe(check)}\n`);
      }
  } catch (error) {
    return apiRefusal(error);
  }
  return isAllGenuine ? 0 : 1;
}
