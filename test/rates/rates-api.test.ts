import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IndiciaApiError, IndiciaClient } from '../../src/client/index.ts';
import { decodeIndicium } from '../../src/indicium/index.ts';
import { runIndicia } from '../support/cli-process.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { fixtureTable } from '../support/rate-fixtures.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const sqlite = dialectFixtures.find((fixture) => fixture.name === 'sqlite');

// A TEST FIXTURE, not prices: the operator's own table, in <data dir>/rates/.
const TABLE = fixtureTable('fixture-operator-2025', '2025-01-01', [1, 2], [5]);

describe('rates over the API and the command line', () => {
  let server: TestServer;
  let client: IndiciaClient;
  let admin: IndiciaClient;

  before(async () => {
    assert.ok(sqlite !== undefined);
    server = await startTestServer(sqlite);
    const credential = (role: string) => {
      const found = server.indicia.demoCredentials.find((entry) => entry.role === role);
      assert.ok(found !== undefined);
      return found;
    };
    client = new IndiciaClient({ baseUrl: server.indicia.url });
    await client.signIn(credential('customer').email, credential('customer').password);
    admin = new IndiciaClient({ baseUrl: server.indicia.url });
    await admin.signIn(credential('admin').email, credential('admin').password);
    await client.enrollDevice('rates', (await server.indicia.meters.enrollmentKey()).fingerprint);
    await client.addFunds(100_000, { number: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' });
  });
  after(() => server.stop());

  it('loads an operator table without a restart, quotes, answers housekeeping, and rates issuance', async () => {
    const refused = async (promise: Promise<unknown>, status: number, code: string): Promise<void> => {
      await assert.rejects(promise, (error: unknown) => {
        assert.ok(error instanceof IndiciaApiError, String(error));
        assert.equal(error.status, status, error.message);
        assert.equal(error.code, code);
        return true;
      });
    };
    // Only the shipped class is priced until the operator's table is loaded.
    await refused(
      client.request('POST', '/v1/rates', { classCode: 'LETTER', weightOunces: 1 }),
      404,
      'rate.not_found',
    );
    const shipped = { classCode: 'FCM-LETTER-METERED', weightOunces: 1, mailingDate: '2025-07-13' };
    assert.equal(
      (await client.request<{ priceMills: number }>('POST', '/v1/rates', shipped)).priceMills,
      740,
    );
    const folder = join(server.indicia.config.dataDir, 'rates');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'operator.json'), JSON.stringify(TABLE));
    await refused(client.request('POST', '/v1/admin/rates/reload'), 403, 'account.forbidden');
    writeFileSync(join(folder, 'zone-chart-100.csv'), 'origin,destination,zone\n100-102,021,4\n');
    assert.deepEqual(await admin.request('POST', '/v1/admin/rates/reload'), {
      tables: 3,
      zoneChartOrigins: 3,
    });
    // The operator's table joins the two shipped ones, which still price their class.
    const { tables: loaded } = await client.request<{ tables: { id: string }[] }>('GET', '/v1/rates/tables');
    assert.deepEqual(
      loaded.map((table) => table.id),
      ['usps-2024-07-14-fcm-metered-letters', 'fixture-operator-2025', 'usps-2025-07-13-fcm-metered-letters'],
    );
    assert.equal(
      (await client.request<{ priceMills: number }>('POST', '/v1/rates', shipped)).priceMills,
      740,
    );

    const quote = await client.request<{
      priceMills: number;
      weightOunces: number;
      table: { version: string };
    }>('POST', '/v1/rates', {
      classCode: 'LETTER',
      piece: { sheets: 8, paper: '20lb', envelope: '#10' },
    });
    assert.equal(quote.weightOunces, 1.48);
    assert.equal(quote.priceMills, 1000);
    const parcel = await client.request<{ priceMills: number; zone: { zone: string } }>('POST', '/v1/rates', {
      classCode: 'PARCEL',
      weightOunces: 40,
      originZip: '10001',
      destinationZip: '90210',
    });
    assert.deepEqual([parcel.zone.zone, parcel.priceMills], ['8', 9700]);
    const charted = await client.request<{ zone: { zone: string; source: string } }>('POST', '/v1/rates', {
      classCode: 'PARCEL',
      weightOunces: 40,
      originZip: '10001',
      destinationZip: '02108',
    });
    assert.deepEqual(
      charted.zone,
      { zone: '4', miles: null, source: 'zone chart' },
      'the chart wins over the distance (zone 3)',
    );
    const current = await client.request<{ isCurrent: boolean }>(
      'GET',
      `/v1/rates/current?classCode=LETTER&version=${quote.table.version}`,
    );
    assert.equal(current.isCurrent, true);

    // Issuance: rated postage, an explicit amount checked against the rate, and an underpayment refused.
    const before = await client.meter();
    const rated = await client.issueIndicia([
      { rateClass: 'LETTER', weightOunces: 1.5 },
      { rateClass: 'LETTER', weightOunces: 0.5, postageMills: 800 },
    ]);
    assert.deepEqual(
      rated.indicia.map((indicium) => indicium.postageMills),
      [1000, 800],
    );
    assert.equal(
      decodeIndicium(Buffer.from(rated.indicia[0]?.data ?? '', 'base64')).rateCategory.trim(),
      'FC',
    );
    const middle = await client.meter();
    assert.equal(middle.ascendingRegisterMills - before.ascendingRegisterMills, 1800);
    await refused(
      client.issueIndicia([{ rateClass: 'LETTER', weightOunces: 1.5, postageMills: 700 }]),
      422,
      'rate.invalid',
    );
    await refused(client.issueIndicia([{ rateClass: 'LETTER', weightOunces: 3 }]), 422, 'rate.invalid');
    await refused(client.issueIndicia([{ rateClass: 'POSTCARD', weightOunces: 1 }]), 404, 'rate.not_found');
    await refused(client.issueIndicia([{ postageMills: 700 }]), 422, 'rate.invalid');
    assert.deepEqual(await client.meter(), middle, 'refusals move nothing');

    // A mailing list priced piece by piece: a rate class and each row's weight.
    const list = await client.printing.importMailingList(
      'Name,Street,City,State,ZIP,Weight\nAda,1 Main St,Troy,NY,12180,0.8\nBob,2 Main St,Troy,NY,12180,1.9\nEve,3 Main St,Troy,NY,12180,2.5\n',
      { rateClass: 'LETTER' },
    );
    assert.deepEqual([list.rows, list.errorRows, list.totalPostageMills], [3, 1, 1700]);
    const [heavy] = (await client.printing.mailingListRows(list.id, { errorsOnly: true })).rows;
    assert.match(heavy?.errors?.[0]?.message ?? '', /goes up to 2 oz/);

    const cli = await runIndicia([
      'rates',
      'quote',
      '--class',
      'PARCEL',
      '--weight',
      '40',
      '--from',
      '10001',
      '--to',
      '90210',
      '--data-dir',
      server.indicia.config.dataDir,
    ]);
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /^\$9\.70 {2}Parcels \(fixture\), 40 oz \(up to 5 lb\), zone 8 \(\d+ mi\)/);
    const tables = await runIndicia(['rates', 'tables', '--data-dir', server.indicia.config.dataDir]);
    assert.match(
      tables.stdout,
      /2025-01-01 {2}fixture-operator-2025 {2}version [0-9a-f]{16} {2}LETTER, PARCEL/,
    );
    assert.match(
      tables.stdout,
      /2025-07-13 {2}usps-2025-07-13-fcm-metered-letters {2}version [0-9a-f]{16} {2}FCM-LETTER-METERED\n {2}source: USPS price change effective July 13, 2025/,
    );
  });
});
