import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, describeConfig, loadConfig } from './index.ts';

const cwd = '/srv/indicia';

function refusal(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    assert.doesNotMatch(error.message, /\n/, 'messages are one line');
    return true;
  });
}

function configFile(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'indicia-config-')), 'indicia.json');
  writeFileSync(path, content);
  return path;
}

describe('loadConfig', () => {
  it('has defaults a newcomer can start with', () => {
    const config = loadConfig({ env: {}, cwd });
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8080);
    assert.equal(config.dataDir, '/srv/indicia/indicia-data');
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.logLevel, 'info');
  });

  it('takes file < environment < flags, in that order', () => {
    const file = configFile(JSON.stringify({ port: 9001, logLevel: 'warn', dataDir: 'from-file' }));
    const config = loadConfig({
      env: { INDICIA_PORT: '9002', INDICIA_CONFIG: file, PATH: '/bin' },
      cwd,
      overrides: { port: '9003' },
    });
    assert.equal(config.port, 9003);
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.dataDir, '/srv/indicia/from-file');
    assert.equal(loadConfig({ env: { INDICIA_PORT: '9002' }, cwd, configFile: file }).port, 9002);
  });

  it('refuses unknown settings, suggesting the likely one', () => {
    refusal(
      () => loadConfig({ env: { INDICIA_PROT: '1' }, cwd }),
      'config.unknown_key',
      /INDICIA_PROT.*did you mean INDICIA_PORT/,
    );
    const file = configFile(JSON.stringify({ prot: 1 }));
    refusal(
      () => loadConfig({ env: {}, cwd, configFile: file }),
      'config.unknown_key',
      /"prot".*did you mean port/,
    );
  });

  it("passes by the client's variables, which the README exports in the same shell", () => {
    const env = {
      INDICIA_URL: 'http://127.0.0.1:8080',
      INDICIA_PASSWORD: 'secret',
      INDICIA_FINGERPRINT: 'ab'.repeat(32),
      INDICIA_API_KEY: 'key',
      INDICIA_PORT: '9004',
    };
    assert.equal(loadConfig({ env, cwd }).port, 9004);
  });

  it('refuses malformed values with what a valid one looks like', () => {
    refusal(
      () => loadConfig({ env: { INDICIA_PORT: 'eighty' }, cwd }),
      'config.invalid',
      /INDICIA_PORT: "eighty" must be a port number/,
    );
    refusal(() => loadConfig({ env: { INDICIA_PORT: '70000' }, cwd }), 'config.invalid', /0 to 65535/);
    refusal(() => loadConfig({ env: {}, cwd, overrides: { port: '-1' } }), 'config.invalid', /--port/);
    refusal(() => loadConfig({ env: { INDICIA_LOG_LEVEL: 'loud' }, cwd }), 'config.invalid', /one of fatal/);
    refusal(() => loadConfig({ env: { INDICIA_DATA_DIR: '  ' }, cwd }), 'config.invalid', /folder path/);
    refusal(
      () => loadConfig({ env: { INDICIA_TLS_CERT_FILE: 'cert.pem' }, cwd }),
      'config.invalid',
      /both tlsCertFile.*and tlsKeyFile/,
    );
    refusal(
      () => loadConfig({ env: {}, cwd, configFile: configFile(JSON.stringify({ port: '80.5' })) }),
      'config.invalid',
      /port number/,
    );
  });

  it('takes the mailing-date window: a few days ahead and an IANA time zone', () => {
    const defaults = loadConfig({ env: {}, cwd });
    assert.deepEqual([defaults.mailingDateDaysAhead, defaults.timeZone], [3, 'UTC']);
    const set = loadConfig({
      env: { INDICIA_MAILING_DATE_DAYS_AHEAD: '0', INDICIA_TIME_ZONE: 'america/chicago' },
      cwd,
    });
    assert.deepEqual([set.mailingDateDaysAhead, set.timeZone], [0, 'America/Chicago']);
    refusal(
      () => loadConfig({ env: { INDICIA_MAILING_DATE_DAYS_AHEAD: '8' }, cwd }),
      'config.invalid',
      /INDICIA_MAILING_DATE_DAYS_AHEAD: "8" must be a number of days \(a whole number from 0 to 7\)/,
    );
    refusal(
      () => loadConfig({ env: { INDICIA_TIME_ZONE: 'Mars/Olympus_Mons' }, cwd }),
      'config.invalid',
      /INDICIA_TIME_ZONE: "Mars\/Olympus_Mons" must be an IANA time zone name like UTC or America\/New_York/,
    );
  });

  it('never echoes a secret it refuses or prints', () => {
    refusal(
      () => loadConfig({ env: { INDICIA_DATABASE_URL: 'mysql://root:hunter2@db' }, cwd }),
      'config.invalid',
      /INDICIA_DATABASE_URL: \(hidden\) must be a URL/,
    );
    const config = loadConfig({ env: { INDICIA_DATABASE_URL: 'postgres://u:hunter2@db/indicia' }, cwd });
    assert.equal(config.databaseUrl, 'postgres://u:hunter2@db/indicia');
    assert.doesNotMatch(JSON.stringify(describeConfig(config)), /hunter2/);
  });

  it('explains unreadable and malformed config files', () => {
    refusal(
      () => loadConfig({ env: {}, cwd, configFile: '/nonexistent/indicia.json' }),
      'config.file_unreadable',
      /ENOENT/,
    );
    refusal(
      () => loadConfig({ env: {}, cwd, configFile: configFile('{ port: 1 ') }),
      'config.invalid',
      /not valid JSON/,
    );
    refusal(
      () => loadConfig({ env: {}, cwd, configFile: configFile('[1]') }),
      'config.invalid',
      /JSON object/,
    );
  });
});
