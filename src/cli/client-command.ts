import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { IndiciaClient } from '../client/index.ts';
import { formatUsd } from '../money/index.ts';
import type { Mills } from '../money/index.ts';
import { type CommandIo, UsageError } from './commands.ts';
import { amountOf, apiRefusal, load, parse, remember, save, statePath } from './client-state.ts';

export const CLIENT_USAGE = [
  'indicia client enroll --url URL --fingerprint HEX (--email EMAIL | --api-key KEY) [--name NAME] [--state FILE]',
  '                                    enroll this machine as your meter’s device (through the API); with',
  '                                    --email it signs in (password from INDICIA_PASSWORD) and makes the',
  '                                    machine its own API key for the client commands',
  'indicia client meter                your meter and registers, as the server holds them',
  'indicia client fund AMOUNT --card NUMBER --exp MM/YYYY --cvc CVC   add postage (sandbox card processor)',
  'indicia client print --postage 0.73 --rate FC [--count N] [--out DIR]   print signed indicia',
  'indicia client devices list         your meter’s devices: status, key end, challenge',
  'indicia client devices revoke ID    revoke a device: the module refuses its requests from now on',
  '                                    client commands read INDICIA_API_KEY (an ik_… key) and keep the',
  '                                    device in --state (default ./indicia-client.json, mode 0600)',
].join('\n');

/** `indicia client devices list|revoke ID`: the meter's devices, through this machine's API key. */
async function devicesCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const [action, ...rest] = args;
  const { values, positionals } = parse(rest, {});
  const { state, client } = await load(statePath(io, values['state']));
  switch (action) {
    case 'list': {
      for (const device of await client.devices()) {
        const mark = device.id === state.device.id ? '  (this machine)' : '';
        const until =
          device.status === 'revoked' ? `revoked ${device.revokedAt ?? ''}` : `key until ${device.expiresAt}`;
        io.write(`${device.id}  ${device.status.padEnd(7)}  ${until}  ${device.name}${mark}\n`);
      }
      return 0;
    }
    case 'revoke': {
      const id = positionals[0];
      if (id === undefined) throw new UsageError('devices revoke needs the device id (see devices list)');
      const revoked = await client.revokeDevice(id);
      io.write(
        `Revoked device ${revoked.id} (${revoked.name}); the module refuses its requests from now on.\n`,
      );
      return 0;
    }
    case undefined:
    default:
      throw new UsageError('client devices takes list or revoke ID');
  }
}

/** The scopes the client commands use: nothing of staff, nothing that manages the account. */
const CLIENT_SCOPES = [
  'meter:read',
  'indicia:read',
  'indicia:issue',
  'indicia:refund',
  'funds:add',
  'devices:enroll',
] as const;

/**
 * Signs in once with the account's password and makes this machine an API key of its own for the
 * client commands (kept in the state file, revocable in the account's key list); the session ends.
 */
async function machineApiKey(
  url: string,
  email: string,
  password: string | undefined,
  name: string | undefined,
): Promise<string> {
  if (password === undefined || password === '')
    throw new UsageError(
      "enroll --email reads the password from INDICIA_PASSWORD (the demo customer's is printed by indicia serve)",
    );
  const session = new IndiciaClient({ baseUrl: url });
  await session.signIn(email, password);
  try {
    const created = await session.createApiKey(`${name ?? 'indicia command line'} (${hostname()})`, [
      ...CLIENT_SCOPES,
    ]);
    return created.key;
  } finally {
    await session.signOut();
  }
}

/**
 * `indicia client …`: a customer's own command line over the API, through the SDK: device
 * enrollment, funds, printing, devices. The device's HMK is kept in the state file (mode 0600).
 */
export async function clientCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case 'enroll': {
        const { values } = parse(rest, {
          url: { type: 'string' },
          fingerprint: { type: 'string' },
          'api-key': { type: 'string' },
          email: { type: 'string' },
          name: { type: 'string' },
        });
        const url = values['url'];
        const fingerprint = values['fingerprint'];
        if (url === undefined || fingerprint === undefined)
          throw new UsageError(
            'enroll needs --url and --fingerprint (the enrollment key fingerprint `indicia serve` prints)',
          );
        const email = values['email'];
        const apiKey =
          email === undefined
            ? (values['api-key'] ?? io.env['INDICIA_API_KEY'])
            : await machineApiKey(url, email, io.env['INDICIA_PASSWORD'], values['name']);
        if (apiKey === undefined)
          throw new UsageError(
            'enroll needs --email (and INDICIA_PASSWORD) or an API key (--api-key or INDICIA_API_KEY)',
          );
        const client = new IndiciaClient({ baseUrl: url, apiKey });
        const device = await client.enrollStoredDevice(values['name'] ?? 'indicia command line', fingerprint);
        const path = statePath(io, values['state']);
        save(path, { url, apiKey, device });
        io.write(`Enrolled device ${device.id}; kept in ${path} (mode 0600: it holds the device key).\n`);
        return 0;
      }
      case 'meter': {
        const { values } = parse(rest, {});
        const path = statePath(io, values['state']);
        const { state, client } = await load(path);
        const meter = await client.syncDevice();
        remember(path, state, client);
        if (meter.mode === 'dedicated')
          io.write(
            `${meter.meterId}  ${meter.status}  AR ${formatUsd(meter.ascendingRegisterMills as Mills)}  DR ${formatUsd(meter.descendingRegisterMills as Mills)}  max DR ${formatUsd(meter.maxDescendingRegisterMills as Mills)}\n`,
          );
        return 0;
      }
      case 'fund': {
        const { values, positionals } = parse(rest, {
          card: { type: 'string' },
          exp: { type: 'string' },
          cvc: { type: 'string' },
        });
        const amount = amountOf(positionals[0], 'AMOUNT');
        const expiry = /^(\d{1,2})\/(\d{4})$/.exec(values['exp'] ?? '');
        if (values['card'] === undefined || expiry === null || values['cvc'] === undefined)
          throw new UsageError(
            'fund needs --card NUMBER --exp MM/YYYY --cvc CVC (the sandbox takes test cards only)',
          );
        const path = statePath(io, values['state']);
        const { state, client } = await load(path);
        try {
          const funded = await client.addFunds(amount, {
            number: values['card'],
            expMonth: Number(expiry[1]),
            expYear: Number(expiry[2]),
            cvc: values['cvc'],
          });
          io.write(
            `Added ${formatUsd(amount)} (${funded.payment.processor} card …${funded.payment.last4}); DR now ${formatUsd(funded.registers.descendingRegisterMills as Mills)}; receipt ${funded.receipt.id}.\n`,
          );
        } finally {
          remember(path, state, client);
        }
        return 0;
      }
      case 'print': {
        const { values } = parse(rest, {
          postage: { type: 'string' },
          rate: { type: 'string' },
          count: { type: 'string' },
          out: { type: 'string' },
        });
        const postage = amountOf(values['postage'], '--postage');
        if (values['rate'] === undefined) throw new UsageError('print needs --rate, e.g. FC');
        const count = values['count'] === undefined ? 1 : Number(values['count']);
        if (!Number.isInteger(count) || count < 1 || count > 1_000)
          throw new UsageError('--count is a whole number from 1 to 1000');
        const path = statePath(io, values['state']);
        const { state, client } = await load(path);
        try {
          const printed = await client.issueIndicia(
            Array.from({ length: count }, () => ({
              postageMills: postage,
              rateCategory: values['rate'] ?? '',
            })),
          );
          if (values['out'] !== undefined) mkdirSync(values['out'], { recursive: true });
          for (const indicium of printed.indicia) {
            if (values['out'] === undefined)
              io.write(`${indicium.id}  ${Buffer.from(indicium.data, 'base64').toString('hex')}\n`);
            else
              writeFileSync(join(values['out'], `${indicium.id}.bin`), Buffer.from(indicium.data, 'base64'));
          }
          io.write(
            `Printed ${printed.indicia.length} × ${formatUsd(postage)}; AR ${formatUsd(printed.registers.ascendingRegisterMills as Mills)}, DR ${formatUsd(printed.registers.descendingRegisterMills as Mills)}; receipt ${printed.receipt.id}.\n`,
          );
        } finally {
          remember(path, state, client);
        }
        return 0;
      }
      case 'devices':
        return await devicesCommand(rest, io);
      case undefined:
      default:
        throw new UsageError(`unknown client command "${sub ?? ''}"; see indicia --help`);
    }
  } catch (error) {
    return apiRefusal(error);
  }
}
