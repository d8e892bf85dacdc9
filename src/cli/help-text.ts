import { CONFIG_FILE_ENV, settings } from '../config/index.ts';
import { METERS_USAGE } from './meters-command.ts';
import { POOL_USAGE } from './pool-command.ts';
import { CLIENT_USAGE } from './client-command.ts';
import { PRINT_USAGE } from './print-command.ts';
import { ADDRESS_USAGE } from './address-command.ts';
import { RATES_USAGE } from './rates-command.ts';
import { MODULES_USAGE } from './modules-command.ts';
import { AUTHORITY_USAGE } from './authority-command.ts';

function settingLines(): string[] {
  return settings.map((setting) => {
    const name = setting.flag === undefined ? '' : `${setting.flag} <value>`;
    const shown = setting.defaultValue === undefined ? '' : ` (default ${String(setting.defaultValue)})`;
    return `  ${name.padEnd(24)}${setting.env.padEnd(30)}${setting.description}${shown}`;
  });
}

/** What `indicia --help` prints: enough for a newcomer to start, configure and find the docs. */
export function helpText(version: string): string {
  return [
    `indicia ${version} — online postage meter and value-bearing-item server`,
    '',
    'Usage:',
    '  indicia serve [options]     Start the server and print its URL. On first start with an empty',
    '                              data directory it creates the database, the server keys and a demo',
    '                              operator and demo customer, and prints their sign-in details once.',
    '  indicia migrate [options]   Bring the database schema up to date, then exit.',
    ...MODULES_USAGE.split('\n').map((line) => `  ${line}`),
    ...METERS_USAGE.split('\n').map((line) => `  ${line}`),
    ...POOL_USAGE.split('\n').map((line) => `  ${line}`),
    ...AUTHORITY_USAGE.split('\n').map((line) => `  ${line}`),
    ...CLIENT_USAGE.split('\n').map((line) => `  ${line}`),
    ...PRINT_USAGE.split('\n').map((line) => `  ${line}`),
    ...ADDRESS_USAGE.split('\n').map((line) => `  ${line}`),
    ...RATES_USAGE.split('\n').map((line) => `  ${line}`),
    '  indicia help                Show this text (also --help, -h).',
    '  indicia --version           Print the version.',
    '',
    'Options and settings (a flag wins over its environment variable, which wins over the file):',
    `  ${'flag'.padEnd(24)}${'environment variable'.padEnd(30)}meaning`,
    ...settingLines(),
    `  --config <file>         ${CONFIG_FILE_ENV.padEnd(30)}JSON file of settings, e.g. {"port": 9000, "logLevel": "warn"}`,
    '',
    'Unknown settings, malformed values, an unwritable data directory, a port in use or a database',
    'from a newer Indicia stop the start with one line saying what to fix; nothing is changed on disk.',
    '',
    'Examples:',
    '  indicia serve                                   # http://127.0.0.1:8080, data in ./indicia-data',
    '  indicia serve --port 9000 --data-dir /var/lib/indicia',
    '  INDICIA_DATABASE_URL=postgres://indicia@localhost/indicia indicia migrate',
    '',
    'While it runs: API docs at /docs, OpenAPI at /openapi.json, /healthz, /readyz, /metrics.',
    'Stop it with Ctrl+C or SIGTERM (requests in flight are finished first).',
    'More: README.md, docs/architecture.md, docs/operations.md, docs/glossary.md.',
  ].join('\n');
}
