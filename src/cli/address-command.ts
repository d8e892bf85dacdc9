import { parseArgs } from 'node:util';
import { AddressError, type StandardAddress, offlineAddressProvider } from '../addresses/index.ts';
import { type CommandIo, UsageError } from './commands.ts';

export const ADDRESS_USAGE = [
  'indicia address verify "123 Main St, Troy, NY 12180"   standardize (Publication 28) and check an address',
  'indicia address verify --line1 L [--line2 L] [--city C] [--state S] [--zip Z] [--json]',
  '                                    against the offline ZIP reference; candidates when it is wrong',
].join('\n');

const oneLine = (address: StandardAddress): string =>
  [address.line1, address.line2, `${address.city} ${address.state}  ${address.zip}`]
    .filter((line) => line !== undefined)
    .join(', ');

/** `indicia address verify …`: the offline provider, no server needed. */
export async function addressCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'verify') throw new UsageError(`unknown address command "${sub ?? ''}"; the command is verify`);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        line1: { type: 'string' },
        line2: { type: 'string' },
        city: { type: 'string' },
        state: { type: 'string' },
        zip: { type: 'string' },
        json: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError(
      `${(error as Error).message.split('\n')[0] ?? 'invalid arguments'} (see indicia --help)`,
    );
  }
  const { values, positionals } = parsed;
  const provider = offlineAddressProvider();
  const request =
    values.line1 === undefined
      ? { text: positionals.join(' ') }
      : { line1: values.line1, line2: values.line2, city: values.city, state: values.state, zip: values.zip };
  try {
    const result = await provider.verify(request);
    if (values.json === true) {
      io.write(`${JSON.stringify({ ...result, limits: provider.limits }, null, 2)}\n`);
    } else {
      io.write(`${result.status}${result.address === null ? '' : `: ${oneLine(result.address)}`}\n`);
      for (const message of result.messages) io.write(`  - ${message}\n`);
      if (result.status !== 'valid')
        for (const [index, candidate] of result.candidates.entries())
          io.write(
            `  ${index + 1}. ${oneLine(candidate.address)}  (${candidate.match.join(', ')}; score ${candidate.score})\n`,
          );
      io.write(`  (${provider.name}: ${provider.limits})\n`);
    }
    return result.status === 'invalid' ? 1 : 0;
  } catch (error) {
    if (error instanceof AddressError) {
      process.stderr.write(`indicia: ${error.message} (${error.code})\n`);
      return 1;
    }
    throw error;
  }
}
