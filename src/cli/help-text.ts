import { CONFIG_FILE_ENV, settings } from '../config/index.ts';
import { METERS_USAGE } from './meters-command.ts';
import { POOL_USAGE } from './pool-command.ts';
import { CLIENT_USAGE } from './client-command.ts';
import { PRINT_USAGE } from './print-command.ts';
import { VERIFY_USAGE } from './verify-command.ts';
import { ADDRESS_USAGE } from './address-command.ts';
import { RATES_USAGE } from './rates-command.ts';
import { MODULES_USAGE } from './modules-command.ts';
import { AUTHORITY_USAGE } from './authority-command.ts';
import { AUDIT_USAGE } from './audit-command.ts';
import { BACKUP_USAGE } from './backup-command.ts';
import { JOBS_USAGE } from './jobs-command.ts';

/** Help lines are wrapped to this width, so an 80-column terminal shows them whole. */
export const HELP_WIDTH = 80;
const DESCRIPTION_INDENT = '      ';

/** Words of `text` in lines of at most `width` columns, each starting with `indent`. */
function wrap(text: string, indent: string, width = HELP_WIDTH): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((part) => part !== '')) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(indent + line);
  return lines;
}

/**
 * One block per setting: its flag (if any) and environment variable on one line, the meaning
 * wrapped beneath, so no name runs into its text however long it is.
 */
function settingLines(): string[] {
  const block = (names: string, description: string): string[] => [
    `  ${names}`,
    ...wrap(description, DESCRIPTION_INDENT),
  ];
  return [
    ...settings.flatMap((setting) => {
      const names = setting.flag === undefined ? setting.env : `${setting.flag} <value>, ${setting.env}`;
      const value = setting.defaultValue;
      // An object-valued default (pricingPlans) is spelled out in its description instead.
      const isPlain = value === undefined || Array.isArray(value) || typeof value !== 'object';
      const shown = value === undefined || !isPlain ? '' : ` Default: ${String(value)}.`;
      return block(names, `${setting.description}${shown}`);
    }),
    ...block(
      `--config <file>, ${CONFIG_FILE_ENV}`,
      'JSON file of settings, e.g. {"port": 9000, "logLevel": "warn"}.',
    ),
  ];
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
    '  indicia migrate --to URL    Move this SQLite installation to an empty PostgreSQL database',
    '                              (server stopped): copy, verify on arrival, print the next steps.',
    ...MODULES_USAGE.split('\n').map((line) => `  ${line}`),
    ...METERS_USAGE.split('\n').map((line) => `  ${line}`),
    ...POOL_USAGE.split('\n').map((line) => `  ${line}`),
    ...AUTHORITY_USAGE.split('\n').map((line) => `  ${line}`),
    ...AUDIT_USAGE.split('\n').map((line) => `  ${line}`),
    ...JOBS_USAGE.split('\n').map((line) => `  ${line}`),
    ...CLIENT_USAGE.split('\n').map((line) => `  ${line}`),
    ...PRINT_USAGE.split('\n').map((line) => `  ${line}`),
    ...VERIFY_USAGE.split('\n').map((line) => `  ${line}`),
    ...ADDRESS_USAGE.split('\n').map((line) => `  ${line}`),
    ...RATES_USAGE.split('\n').map((line) => `  ${line}`),
    ...BACKUP_USAGE.split('\n').map((line) => `  ${line}`),
    '  indicia help                Show this text (also --help, -h).',
    '  indicia --version           Print the version.',
    '',
    ...wrap(
      'Options and settings: the flag (if there is one) and the environment variable, then what the setting means. A flag wins over its environment variable, which wins over the config file.',
      '',
    ),
    ...settingLines(),
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
