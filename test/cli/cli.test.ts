import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { CONFIG_FILE_ENV, settings } from '../../src/config/index.ts';
import { runIndicia, serveIndicia, snapshotFolder } from '../support/cli-process.ts';

function newFolder(): string {
  return mkdtempSync(join(tmpdir(), 'indicia-cli-'));
}

/** One clear line on standard error, exit status 1, nothing on disk. */
async function assertRefusedStart(
  args: readonly string[],
  env: Record<string, string>,
  pattern: RegExp,
  dataDir: string,
): Promise<void> {
  const before = snapshotFolder(dataDir);
  const existedBefore = existsSync(dataDir);
  const result = await runIndicia(['serve', ...args], env);
  assert.equal(result.status, 1, `exit status; stderr: ${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${result.stderr}`);
  assert.match(lines[0] ?? '', /^indicia: /);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(result.stderr, /\bat .*:\d+:\d+/, 'no stack trace');
  assert.equal(existsSync(dataDir), existedBefore, 'data directory created or removed');
  assert.deepEqual(snapshotFolder(dataDir), before, 'data directory changed');
}

describe('indicia command line', () => {
  it('explains itself with --help', async () => {
    const result = await runIndicia(['--help']);
    assert.equal(result.status, 0);
    for (const expected of [
      'indicia serve',
      'indicia migrate',
      '--port',
      'INDICIA_PORT',
      '--data-dir',
      'INDICIA_DATA_DIR',
      '/docs',
    ]) {
      assert.ok(result.stdout.includes(expected), `help mentions ${expected}`);
    }
  });

  it('--help sets every environment variable apart from its meaning, in lines an 80-column terminal shows whole', async () => {
    const { stdout } = await runIndicia(['--help']);
    const lines = stdout.split('\n');
    const start = lines.findIndex((line) => line.startsWith('Options and settings'));
    const end = lines.findIndex((line, index) => index > start && line === '');
    const section = lines.slice(start, end);
    assert.ok(start >= 0 && section.length > settings.length * 2);
    for (const line of section) assert.ok(Array.from(line).length <= 80, `too wide: ${line}`);
    const described = [...settings, { env: CONFIG_FILE_ENV, flag: '--config', description: 'JSON file' }];
    for (const setting of described) {
      // The names stand alone on their line; the meaning starts on the next, indented.
      const at = section.findIndex((line) => line.endsWith(` ${setting.env}`));
      assert.ok(at > 0, `a line ending with ${setting.env}`);
      const names = section[at] ?? '';
      if (setting.flag !== undefined) assert.match(names, new RegExp(`^  ${setting.flag} `));
      const firstWords = setting.description.split(' ').slice(0, 3).join(' ');
      assert.ok(section[at + 1]?.startsWith(`      ${firstWords}`), `${setting.env}: ${section[at + 1]}`);
    }
    assert.doesNotMatch(stdout, /INDICIA_[A-Z_]+[a-z]/, 'no variable name runs into its text');
  });

  it('prints its version', async () => {
    const result = await runIndicia(['--version']);
    assert.equal(result.status, 0);
    assert.match(result.stdout.trim(), /^\d+\.\d+\.\d+$/);
  });

  it('refuses unknown commands and flags as usage mistakes (status 2)', async () => {
    const command = await runIndicia(['serv']);
    assert.equal(command.status, 2);
    assert.match(command.stderr, /unknown command "serv"/);
    const flag = await runIndicia(['serve', '--prot', '9000']);
    assert.equal(flag.status, 2);
    assert.match(flag.stderr, /--prot/);
  });

  describe('refuses a bad start with one line and changes nothing on disk', () => {
    it('unknown setting in the environment', async () => {
      const dataDir = join(newFolder(), 'data');
      await assertRefusedStart(
        ['--data-dir', dataDir],
        { INDICIA_PROT: '9000' },
        /INDICIA_PROT.*did you mean INDICIA_PORT/,
        dataDir,
      );
    });

    it('unknown setting in the config file', async () => {
      const folder = newFolder();
      const dataDir = join(folder, 'data');
      const file = join(folder, 'indicia.json');
      writeFileSync(file, JSON.stringify({ dataDir, colour: 'blue' }));
      await assertRefusedStart(['--config', file], {}, /unknown setting "colour"/, dataDir);
    });

    it('malformed values', async () => {
      const dataDir = join(newFolder(), 'data');
      await assertRefusedStart(
        ['--data-dir', dataDir],
        { INDICIA_PORT: 'http' },
        /INDICIA_PORT: "http" must be a port number/,
        dataDir,
      );
      await assertRefusedStart(['--data-dir', dataDir, '--port', '99999'], {}, /--port: "99999"/, dataDir);
      await assertRefusedStart(
        ['--data-dir', dataDir],
        { INDICIA_DATABASE_URL: 'mysql://x' },
        /must be a URL like postgres/,
        dataDir,
      );
    });

    it('a rate table that does not check out', async () => {
      const dataDir = join(newFolder(), 'data');
      mkdirSync(join(dataDir, 'rates'), { recursive: true });
      writeFileSync(
        join(dataDir, 'rates', 'guessed.json'),
        JSON.stringify({
          format: 'indicia-rates/1',
          id: 'x',
          effective: '2026-01-01',
          source: '',
          classes: [],
        }),
      );
      // A free port: the tables are read after the listener is bound, so 8080 need not be free.
      await assertRefusedStart(
        ['--data-dir', dataDir, '--port', '0'],
        {},
        /guessed\.json: source must say where the prices come from/,
        dataDir,
      );
    });

    it('an unwritable data directory', async () => {
      const folder = newFolder();
      const aFile = join(folder, 'not-a-folder');
      writeFileSync(aFile, 'x');
      await assertRefusedStart(['--data-dir', join(aFile, 'data')], {}, /is not a folder/, folder);
      // /proc refuses new files even to root, so this holds whoever runs the tests.
      await assertRefusedStart(['--data-dir', '/proc/indicia-data'], {}, /not writable/, folder);
    });

    it('a port in use', async () => {
      const blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const address = blocker.address();
      assert.ok(typeof address === 'object' && address !== null);
      const dataDir = join(newFolder(), 'data');
      try {
        await assertRefusedStart(
          ['--data-dir', dataDir, '--port', String(address.port)],
          {},
          /another program is using it/,
          dataDir,
        );
      } finally {
        blocker.close();
      }
    });

    it('a database file from a newer schema', async () => {
      const dataDir = join(newFolder(), 'data');
      const migrated = await runIndicia(['migrate', '--data-dir', dataDir]);
      assert.equal(migrated.status, 0, migrated.stderr);
      assert.match(migrated.stdout, /Applied now: 0001/);
      const database = new DatabaseSync(join(dataDir, 'indicia.sqlite'));
      database.exec(
        `insert into kysely_migration (name, timestamp) values ('9999-from-the-future', '2099-01-01T00:00:00Z')`,
      );
      database.close();
      await assertRefusedStart(
        ['--data-dir', dataDir, '--port', '0'],
        {},
        /written by a newer Indicia.*9999-from-the-future/,
        dataDir,
      );
    });
  });

  it('starts on an empty data directory, shows demo credentials once, and shuts down on SIGTERM', async () => {
    const dataDir = join(newFolder(), 'data');
    const first = await serveIndicia(['--data-dir', dataDir, '--port', '0']);
    try {
      assert.match(first.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${first.url}/healthz`);
      assert.equal(health.status, 200);
      assert.equal((await fetch(`${first.url}/docs`)).status, 200);
      assert.match(first.output(), /operator@demo\.indicia\.test\s+[A-Za-z0-9]{20}/);
      assert.match(first.output(), /customer@demo\.indicia\.test\s+[A-Za-z0-9]{20}/);
      assert.match(first.output(), /key-encryption key .*kek-v1\.key/);
      assert.match(first.output(), /crypto-officer credential[\s\S]*hash:\s+[A-Za-z0-9]{20}/);
      assert.match(first.output(), /modules\s+2 × software \(SW-[0-9A-F]{10} ok, SW-[0-9A-F]{10} ok\)/);
      assert.ok(existsSync(join(dataDir, 'indicia.sqlite')));
      assert.doesNotMatch(first.output(), /Deprecation|Warning/, 'a clean start prints no runtime warnings');
    } finally {
      assert.equal(await first.stop(), 0);
    }
    assert.match(first.output(), /shutdown complete/);

    const second = await serveIndicia(['--data-dir', dataDir, '--port', '0']);
    try {
      assert.doesNotMatch(second.output(), /demo\.indicia\.test/);
      assert.doesNotMatch(second.output(), /key-encryption key/);
      assert.doesNotMatch(second.output(), /crypto-officer credential/);
    } finally {
      assert.equal(await second.stop(), 0);
    }
  });
});
