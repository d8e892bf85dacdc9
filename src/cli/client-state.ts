import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  Device,
  IndiciaApiError,
  IndiciaClient,
  IndiciaClientError,
  type StoredDevice,
} from '../client/index.ts';
import { parseDollars } from '../money/index.ts';
import type { Mills } from '../money/index.ts';
import { type CommandIo, UsageError } from './commands.ts';

export interface ClientState {
  url: string;
  apiKey: string;
  device: StoredDevice;
}

const DEFAULT_STATE = 'indicia-client.json';

export function parse(
  args: readonly string[],
  options: Record<string, { type: 'string' }>,
): { values: Record<string, string | undefined>; positionals: string[] } {
  try {
    const parsed = parseArgs({
      args: [...args],
      options: { ...options, state: { type: 'string' } },
      allowPositionals: true,
    });
    return { values: parsed.values, positionals: parsed.positionals };
  } catch (error) {
    throw new UsageError(
      `${(error as Error).message.split('\n')[0] ?? 'invalid arguments'} (see indicia --help)`,
    );
  }
}

export function statePath(io: CommandIo, given: string | undefined): string {
  return resolve(io.cwd, given ?? DEFAULT_STATE);
}

export function save(path: string, state: ClientState): void {
  writeFileSync(path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export async function load(path: string): Promise<{ state: ClientState; client: IndiciaClient }> {
  if (!existsSync(path))
    throw new UsageError(`No enrolled device in ${path}; run indicia client enroll first.`);
  const state = JSON.parse(readFileSync(path, 'utf8')) as ClientState;
  const client = new IndiciaClient({ baseUrl: state.url, apiKey: state.apiKey });
  client.useDevice(await Device.restore(state.device));
  return { state, client };
}

/**
 * Keeps the device's challenge and registers after a request (or a refusal that resynchronized),
 * and its key and life span after a renewal.
 */
export function remember(path: string, state: ClientState, client: IndiciaClient): void {
  const stored = client.device?.stored();
  if (stored === null || stored === undefined) return;
  save(path, { ...state, device: stored });
}

export function amountOf(text: string | undefined, what: string): Mills {
  if (text === undefined) throw new UsageError(`${what} is required, in dollars like 10.00`);
  return parseDollars(text);
}

/**
 * Refusals read like every other failure of the command line: one line with the stable code. The
 * API's refusals exit 1; the SDK's own (a wrong --fingerprint, checked before anything is sent)
 * exit 2, like other mistakes in what the command was given.
 */
export function apiRefusal(error: unknown): number {
  if (error instanceof IndiciaApiError) {
    process.stderr.write(`indicia: ${error.message} (${error.code}, request ${error.requestId})\n`);
    return 1;
  }
  if (error instanceof IndiciaClientError) {
    process.stderr.write(`indicia: ${error.message} (${error.code})\n`);
    return error.code === 'client.enrollment_key_not_pinned' ? 2 : 1;
  }
  throw error;
}
