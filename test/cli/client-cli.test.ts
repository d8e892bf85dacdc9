import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient } from '../../src/client/index.ts';
import { fixtureTable } from '../support/rate-fixtures.ts';
import { runIndicia } from '../support/cli-process.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const sqlite = dialectFixtures.find((fixture) => fixture.name === 'sqlite');

describe('indicia client (the SDK from the command line)', () => {
  let server: TestServer;
  let apiKey: string;
  let folder: string;

  before(async () => {
    assert.ok(sqlite !== undefined);
    server = await startTestServer(sqlite);
    const demo = server.indicia.demoCredentials.find((credential) => credential.role === 'customer');
    assert.ok(demo !== undefined);
    const browser = new IndiciaClient({ baseUrl: server.indicia.url });
    await browser.signIn(demo.email, demo.password);
    ({ key: apiKey } = await browser.createApiKey('command line', [
      'devices:enroll',
      'funds:add',
      'indicia:issue',
      'indicia:read',
      'meter:read',
    ]));
    folder = mkdtempSync(join(tmpdir(), 'indicia-client-cli-'));
  });
  after(() => server.stop());

  it('enrolls, funds with a sandbox card, prints to files and shows the registers, across separate runs', async () => {
    const state = join(folder, 'client.json');
    const { fingerprint } = await server.indicia.meters.enrollmentKey();
    const enrolled = await runIndicia(
      ['client', 'enroll', '--url', server.indicia.url, '--fingerprint', fingerprint, '--state', state],
      { INDICIA_API_KEY: apiKey },
    );
    assert.equal(enrolled.status, 0, enrolled.stderr);
    assert.match(enrolled.stdout, /Enrolled device dev_/);
    assert.equal(statSync(state).mode & 0o777, 0o600);

    const funded = await runIndicia([
      'client',
      'fund',
      '25.00',
      '--card',
      '4242 4242 4242 4242',
      '--exp',
      '12/2099',
      '--cvc',
      '123',
      '--state',
      state,
    ]);
    assert.equal(funded.status, 0, funded.stderr);
    assert.match(funded.stdout, /Added \$25\.00 \(sandbox card …4242\); DR now \$25\.00; receipt rcpt_/);

    const out = join(folder, 'indicia');
    const printed = await runIndicia([
      'client',
      'print',
      '--postage',
      '0.73',
      '--rate',
      'FC',
      '--count',
      '2',
      '--out',
      out,
      '--state',
      state,
    ]);
    assert.equal(printed.status, 0, printed.stderr);
    assert.match(printed.stdout, /Printed 2 × \$0\.73; AR \$1\.46, DR \$23\.54/);
    const files = readdirSync(out);
    assert.equal(files.length, 2);
    assert.equal(readFileSync(join(out, files[0] ?? '')).length, 121);

    const meter = await runIndicia(['client', 'meter', '--state', state]);
    assert.equal(meter.status, 0, meter.stderr);
    assert.match(meter.stdout, /AR \$1\.46 {2}DR \$23\.54/);

    // Anyone checks the bytes: the .bin file, or as hex; one byte changed is not genuine (exit 1).
    const bin = join(out, files[0] ?? '');
    const genuine = await runIndicia(['verify', bin, '--url', server.indicia.url]);
    assert.equal(genuine.status, 0, genuine.stderr);
    assert.match(genuine.stdout, /: GENUINE {2}meter \S+ {2}\$0\.73 FC .* never scanned\n$/);
    const forged = Buffer.from(readFileSync(bin));
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 0xff;
    const refused = await runIndicia(['verify', forged.toString('hex'), '--url', server.indicia.url]);
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(refused.stdout, /: NOT GENUINE \(/);
    const nonsense = await runIndicia(['verify', 'no-such-label.png', '--url', server.indicia.url]);
    assert.equal(nonsense.status, 2);
    assert.match(nonsense.stderr, /no such file, and not an indicium in hex or base64/);

    const declined = await runIndicia([
      'client',
      'fund',
      '5.00',
      '--card',
      '4000000000000002',
      '--exp',
      '12/2099',
      '--cvc',
      '123',
      '--state',
      state,
    ]);
    assert.equal(declined.status, 1);
    assert.match(
      declined.stderr,
      /^indicia: The card was declined by the issuer; use another card\. \(payment\.declined, request req_/,
    );
  });

  it('says what is missing instead of guessing', async () => {
    const missing = await runIndicia(['client', 'meter', '--state', join(folder, 'none.json')]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /No enrolled device in .*none\.json; run indicia client enroll first/);
    const noKey = await runIndicia(['client', 'enroll', '--url', server.indicia.url, '--fingerprint', 'ab']);
    assert.equal(noKey.status, 2);
    assert.match(noKey.stderr, /needs --email \(and INDICIA_PASSWORD\) or an API key/);
    const noPassword = await runIndicia([
      'client',
      'enroll',
      '--url',
      server.indicia.url,
      '--fingerprint',
      'ab',
      '--email',
      'customer@demo.indicia.test',
    ]);
    assert.equal(noPassword.status, 2);
    assert.match(noPassword.stderr, /reads the password from INDICIA_PASSWORD/);
    const noUrl = await runIndicia(['client', 'enroll', '--fingerprint', 'ab']);
    assert.equal(noUrl.status, 2);
    assert.match(noUrl.stderr, /needs --url and --fingerprint/);
  });

  it('refuses a wrong --fingerprint as a clear mistake, sending no device key', async () => {
    const state = join(folder, 'wrong-pin.json');
    const { fingerprint } = await server.indicia.meters.enrollmentKey();
    const wrong = 'ab'.repeat(32);
    const refused = await runIndicia(
      ['client', 'enroll', '--url', server.indicia.url, '--fingerprint', wrong, '--state', state],
      { INDICIA_API_KEY: apiKey },
    );
    assert.equal(refused.status, 2, refused.stderr);
    assert.equal(
      refused.stderr,
      `indicia: The server's enrollment key has fingerprint ${fingerprint}, not the pinned ${wrong}; no device key was sent. Check the fingerprint against the one the operator gave you (indicia serve prints it at every start), and that the URL is the right server. (client.enrollment_key_not_pinned)\n`,
    );
    assert.doesNotMatch(refused.stderr, /unexpected failure/);
    assert.equal(existsSync(state), false, 'nothing was saved');
  });

  it('prints a label to a file, test prints, and imports, reviews and prints a mailing list with a progress bar', async () => {
    const state = join(folder, 'client.json');
    const label = join(folder, 'envelope.pdf');
    const printed = await runIndicia([
      'print',
      '--postage',
      '0.73',
      '--rate',
      'FC',
      '--to',
      'Ada Lovelace;12 Main St;Troy;NY;12180',
      '--layout',
      'envelope-10',
      '--format',
      'pdf',
      '--out',
      label,
      '--state',
      state,
    ]);
    assert.equal(printed.status, 0, printed.stderr);
    assert.match(printed.stdout, /Printed ind_\S+ \(\$0\.73\)\.\nWrote .*envelope\.pdf/);
    assert.equal(readFileSync(label).subarray(0, 5).toString(), '%PDF-');
    const test = await runIndicia([
      'print',
      'test',
      '--layout',
      'label-4x6',
      '--format',
      'png',
      '--out',
      join(folder, 'test.png'),
      '--state',
      state,
    ]);
    assert.equal(test.status, 0, test.stderr);
    assert.deepEqual([...readFileSync(join(folder, 'test.png')).subarray(1, 4)], [0x50, 0x4e, 0x47]);

    const csv = join(folder, 'list.csv');
    writeFileSync(
      csv,
      'Name,Address,City,State,ZIP\nAda,1 Main St,Troy,NY,12180\nBob,2 Main St,Troy,NY,12180\nEve,3 Main St,Troy,XX,12180\n',
    );
    const bad = await runIndicia(['batch', 'import', csv, '--postage', '0.50', '--state', state]);
    assert.equal(bad.status, 1);
    assert.match(
      bad.stdout,
      /3 rows, 1 with errors, total postage \$1\.00\n {2}row 3: state: "XX" is not a USPS state code/,
    );
    writeFileSync(
      csv,
      'Name,Address,City,State,ZIP\nAda,1 Main St,Troy,NY,12180\nBob,2 Main St,Troy,NY,12180\n',
    );
    const good = await runIndicia(['batch', 'import', csv, '--postage', '0.50', '--state', state]);
    assert.equal(good.status, 0, good.stderr);
    const id = /^(ml_\S+)/.exec(good.stdout)?.[1] ?? '';
    const shown = await runIndicia(['batch', 'show', id, '--rows', 'all', '--state', state]);
    assert.match(shown.stdout, /row 2: BOB, TROY NY 12180 {2}\$0\.50/);
    const out = join(folder, 'list.pdf');
    const batch = await runIndicia(['batch', 'print', id, '--out', out, '--state', state]);
    assert.equal(batch.status, 0, batch.stderr);
    assert.match(batch.stdout, /Printed 2 pieces, \$1\.00, in one batch; receipt rcpt_/);
    assert.match(batch.stderr, /\[#{30}\] 2 \/ 2 pages/);
    assert.equal(readFileSync(out).subarray(0, 5).toString(), '%PDF-');
    const again = await runIndicia(['batch', 'print', id, '--out', out, '--state', state]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /a list prints once\. \(mailing_list\.not_in_review/);
  });

  it('prints a rated piece and imports a list rated by class and weight', async () => {
    const state = join(folder, 'client.json');
    // With only the shipped tables: a metered letter, priced by the table in force today.
    const quoted = await runIndicia([
      'rates',
      'quote',
      '--class',
      'FCM-LETTER-METERED',
      '--weight',
      '2',
      '--data-dir',
      server.indicia.config.dataDir,
    ]);
    assert.equal(quoted.status, 0, quoted.stderr);
    const today = /^(\$\d+\.\d{2}) .*\n {2}table usps-\d{4}-\d{2}-\d{2}-fcm-metered-letters /.exec(
      quoted.stdout,
    )?.[1];
    assert.ok(today !== undefined, quoted.stdout);
    const shipped = await runIndicia([
      'print',
      '--class',
      'FCM-LETTER-METERED',
      '--weight',
      '2',
      '--out',
      join(folder, 'shipped.pdf'),
      '--state',
      state,
    ]);
    assert.equal(shipped.status, 0, shipped.stderr);
    assert.ok(shipped.stdout.includes(`(${today}).`), shipped.stdout);
    assert.match(shipped.stdout, /^Printed ind_\S+ /);
    const heavy = await runIndicia([
      'print',
      '--class',
      'FCM-LETTER-METERED',
      '--weight',
      '3.6',
      '--out',
      join(folder, 'heavy.pdf'),
      '--state',
      state,
    ]);
    assert.equal(heavy.status, 1);
    assert.match(heavy.stderr, /goes up to 3\.5 oz; this piece weighs 3\.6 oz\. \(rate\.invalid/);
    const operator = server.indicia.demoCredentials.find((credential) => credential.role === 'admin');
    assert.ok(operator !== undefined);
    mkdirSync(join(server.indicia.config.dataDir, 'rates'), { recursive: true });
    writeFileSync(
      join(server.indicia.config.dataDir, 'rates', 'operator.json'),
      JSON.stringify(fixtureTable('fixture-cli', '2025-01-01', [1, 2], [5])),
    );
    const admin = new IndiciaClient({ baseUrl: server.indicia.url });
    await admin.signIn(operator.email, operator.password);
    await admin.request('POST', '/v1/admin/rates/reload');
    const rated = await runIndicia([
      'print',
      '--class',
      'LETTER',
      '--weight',
      '1.5',
      '--to',
      'Ada Lovelace;12 Main St;Troy;NY;12180',
      '--layout',
      'envelope-10',
      '--out',
      join(folder, 'rated.pdf'),
      '--state',
      state,
    ]);
    assert.equal(rated.status, 0, rated.stderr);
    assert.match(rated.stdout, /Printed ind_\S+ \(\$1\.00\)/);
    const underpaid = await runIndicia([
      'print',
      '--class',
      'LETTER',
      '--weight',
      '1.5',
      '--postage',
      '0.50',
      '--out',
      join(folder, 'x.pdf'),
      '--state',
      state,
    ]);
    assert.equal(underpaid.status, 1);
    assert.match(underpaid.stderr, /less than the Letters \(fixture\) rate .*\(rate\.invalid/);
    const csv = join(folder, 'rated.csv');
    writeFileSync(
      csv,
      'Name,Address,City,State,ZIP,Weight\nAda,1 Main St,Troy,NY,12180,0.9\nBob,2 Main St,Troy,NY,12180,1.2\n',
    );
    const list = await runIndicia(['batch', 'import', csv, '--class', 'LETTER', '--state', state]);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /2 rows, 0 with errors, total postage \$1\.70/);
  });
  it('lists the meter’s devices and revokes one, whose next request is refused', async () => {
    const state = join(folder, 'client.json');
    const station = join(folder, 'station-2.json');
    const { fingerprint } = await server.indicia.meters.enrollmentKey();
    const enrolled = await runIndicia(
      [
        'client',
        'enroll',
        '--url',
        server.indicia.url,
        '--fingerprint',
        fingerprint,
        '--name',
        'station 2',
        '--state',
        station,
      ],
      { INDICIA_API_KEY: apiKey },
    );
    assert.equal(enrolled.status, 0, enrolled.stderr);
    const second = (
      JSON.parse(readFileSync(station, 'utf8')) as { device: { id: string; expiresAt: string } }
    ).device;
    assert.ok(Date.parse(second.expiresAt) > Date.now());

    // A state file written before keys had a life span still signs.
    const first = JSON.parse(readFileSync(state, 'utf8')) as { device: Record<string, unknown> };
    const { expiresAt: _end, keyIssuedAt: _issued, fingerprint: _pinned, ...earlier } = first.device;
    writeFileSync(state, JSON.stringify({ ...first, device: earlier }), { mode: 0o600 });
    const printed = await runIndicia([
      'client',
      'print',
      '--postage',
      '0.73',
      '--rate',
      'FC',
      '--state',
      state,
    ]);
    assert.equal(printed.status, 0, printed.stderr);

    const listed = await runIndicia(['client', 'devices', 'list', '--state', state]);
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(
      listed.stdout,
      new RegExp(`${String(earlier['id'])} {2}active {3}key until \\S+ {2}\\S.*\\(this machine\\)`),
    );
    assert.match(listed.stdout, new RegExp(`${second.id} {2}active {3}key until \\S+ {2}station 2\n`));

    const revoked = await runIndicia(['client', 'devices', 'revoke', second.id, '--state', state]);
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.match(revoked.stdout, /Revoked device dev_\S+ \(station 2\)/);
    const refused = await runIndicia([
      'client',
      'print',
      '--postage',
      '0.73',
      '--rate',
      'FC',
      '--state',
      station,
    ]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /was revoked .*\(psd\.device_revoked, request req_/);
    const after = await runIndicia(['client', 'devices', 'list', '--state', state]);
    assert.match(after.stdout, new RegExp(`${second.id} {2}revoked  revoked \\S+ {2}station 2`));
    const usage = await runIndicia(['client', 'devices', 'forget', '--state', state]);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /client devices takes list or revoke ID/);
  });
});
