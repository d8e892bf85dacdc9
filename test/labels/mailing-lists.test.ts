import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IndiciaApiError, IndiciaClient } from '../../src/client/index.ts';
import { RenderPool } from '../../src/labels/index.ts';
import { MailingLists } from '../../src/printing/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';
import { installDebianPackages, runCommand } from '../support/system-packages.ts';
import { decodeBarcodes } from '../support/zxing.ts';

const CARD = { number: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' };
const HEADER = 'Full Name,Company,Street,Apt,City,State,ZIP,Postage\n';

/** `count` good rows of a list. */
function rows(count: number, postage = '0.73'): string {
  return Array.from(
    { length: count },
    (_, index) =>
      `Person ${index + 1},,${100 + index} Main St,,Springfield,IL,6270${1 + (index % 8)},${postage}\n`,
  ).join('');
}

async function refused(promise: Promise<unknown>, status: number, code: string): Promise<IndiciaApiError> {
  let caught: IndiciaApiError | undefined;
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof IndiciaApiError, String(error));
    assert.equal(error.status, status, error.message);
    assert.equal(error.code, code, error.message);
    caught = error;
    return true;
  });
  assert.ok(caught !== undefined);
  return caught;
}

/** The customer's indicia count and registers: what must not move when a list is refused. */
async function state(server: TestServer, client: IndiciaClient) {
  const count = await server.indicia.store.db
    .selectFrom('indicia')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return { meter: await client.meter(), indicia: count.n };
}

for (const fixture of dialectFixtures) {
  describe(`mailing lists (${fixture.name})`, () => {
    let server: TestServer;
    let client: IndiciaClient;

    before(async () => {
      if (runCommand('which', ['pdftotext']).status !== 0)
        installDebianPackages(['poppler-utils'], 'The mailing-list tests read PDFs with poppler-utils');
      server = await startTestServer(fixture);
      const demo = server.indicia.demoCredentials.find((credential) => credential.role === 'customer');
      assert.ok(demo !== undefined);
      client = new IndiciaClient({ baseUrl: server.indicia.url });
      await client.signIn(demo.email, demo.password);
      await client.enrollDevice('mailroom PC', (await server.indicia.meters.enrollmentKey()).fingerprint);
      await client.addFunds(4_900_000, CARD);
    });
    after(() => server.stop());

    it('imports a CSV, reviews it, prints it all in one batch and one PDF whose pages decode to the issued indicia', async () => {
      const csv = `${HEADER}${rows(24)}"O'Brien, Pat","ACME, ""Widgets""",5 Elm St,Apt 2,Boston,ma,2108,1.20\n`;
      const list = await client.printing.importMailingList(csv, { name: 'November mailing' });
      assert.equal(list.state, 'review');
      assert.equal(list.rows, 25);
      assert.equal(list.errorRows, 0);
      assert.equal(list.totalPostageMills, 24 * 730 + 1200);
      const page = await client.printing.mailingListRows(list.id, { after: 24 });
      assert.deepEqual(page.rows[0]?.piece, {
        name: "O'BRIEN, PAT",
        company: 'ACME, "WIDGETS"',
        line1: '5 ELM ST APT 2',
        city: 'BOSTON',
        state: 'MA',
        zip: '02108',
        postageMills: 1200,
        rateCategory: 'FC',
      });
      const before = await client.meter();
      const printed = await client.printing.printMailingList(list, { layout: 'envelope-10' });
      assert.equal(printed.issued.pieces, 25);
      assert.equal(printed.receipt.body.pieces, 25);
      assert.equal(printed.receipt.body.amountMills, list.totalPostageMills);
      const after = await client.meter();
      assert.equal(after.ascendingRegisterMills - before.ascendingRegisterMills, list.totalPostageMills);
      assert.equal(before.descendingRegisterMills - after.descendingRegisterMills, list.totalPostageMills);
      const seen: number[] = [];
      const done = await client.printing.waitForPdf(list.id, (progress) =>
        seen.push(progress.progress.pagesDone),
      );
      assert.equal(done.state, 'printed');
      assert.equal(done.progress.pagesDone, 25);
      const pdf = await client.printing.mailingListPdf(list.id);
      const folder = mkdtempSync(join(tmpdir(), 'indicia-list-'));
      writeFileSync(join(folder, 'list.pdf'), pdf);
      assert.match(runCommand('pdfinfo', [join(folder, 'list.pdf')]).output, /Pages:\s+25\b/);
      const text = runCommand('pdftotext', ['-raw', join(folder, 'list.pdf'), '-']).output;
      for (const expected of ['PERSON 1', 'PERSON 24', "O'BRIEN, PAT", 'BOSTON MA 02108', '$1.20', 'DEMO'])
        assert.ok(text.includes(expected), expected);
      const raster = runCommand('pdftoppm', [
        '-r',
        '300',
        '-png',
        '-f',
        '25',
        '-l',
        '25',
        '-singlefile',
        join(folder, 'list.pdf'),
        join(folder, 'last'),
      ]);
      assert.equal(raster.status, 0, raster.output);
      const [decoded] = await decodeBarcodes(readFileSync(join(folder, 'last.png')), ['DataMatrix']);
      assert.ok(decoded !== undefined);
      const last = await client.request<{ data: string; postageMills: number }>(
        'GET',
        `/v1/indicia/${printed.issued.lastIndiciumId}`,
      );
      assert.equal(decoded.toString('base64'), last.data, 'the last page carries the last row’s indicium');
      assert.equal(last.postageMills, 1200);
      assert.equal((await server.indicia.meters.verify(decoded, 'list test')).outcome, 'valid');

      // A list prints once.
      await refused(client.printing.printMailingList(list), 409, 'mailing_list.not_in_review');
    });

    it('refuses a list whose signed digest, count or total is not the reviewed one, moving nothing', async () => {
      const list = await client.printing.importMailingList(`${HEADER}${rows(3)}`);
      const before = await state(server, client);
      await refused(
        client.printing.printMailingList({ ...list, totalPostageMills: list.totalPostageMills - 1 }),
        409,
        'mailing_list.changed',
      );
      await refused(
        client.printing.printMailingList({ ...list, digest: '0'.repeat(64) }),
        409,
        'mailing_list.changed',
      );
      assert.deepEqual(await state(server, client), before);
      assert.equal((await client.printing.mailingList(list.id)).state, 'review');
    });

    it('gives row-level errors for malformed files and never prints a list with any, moving nothing', async () => {
      const before = await state(server, client);
      // Wrong columns: the whole file is refused, naming what is missing.
      const wrong = await refused(
        client.printing.importMailingList('Who,Where\nA,B\n'),
        422,
        'mailing_list.invalid',
      );
      assert.match(wrong.message, /no column for name, line1, city, state, zip, postage/);
      // A mapping names the columns of any header.
      const mapped = await client.printing.importMailingList(
        'Who,Where,Town,Province,Code\nAda,1 Main St,Troy,NY,12180\n',
        {
          mapping: { name: 'Who', line1: 'Where', city: 'Town', state: 'Province', zip: 'Code' },
          postageMills: 730,
        },
      );
      assert.equal(mapped.errorRows, 0);
      await refused(client.printing.importMailingList('\uFEFF'), 422, 'mailing_list.invalid');
      await refused(
        client.printing.importMailingList(Buffer.from('\uFEFFName,Street', 'utf16le')),
        422,
        'mailing_list.invalid',
      );

      // Addresses are checked against the ZIP reference: a misspelled city is corrected, an
      // unknown ZIP and an ambiguous city are the rows' errors.
      const checked = await client.printing.importMailingList(
        `${HEADER}Ada,,1 Main St,,Troyy,NY,12180,0.73\nBob,,2 Main St,,Nowhere,NY,00000,0.73\n`,
      );
      assert.equal(checked.errorRows, 1);
      const [corrected, unknown] = (await client.printing.mailingListRows(checked.id)).rows;
      assert.equal(corrected?.piece?.city, 'TROY');
      assert.match(unknown?.errors?.[0]?.message ?? '', /not found: .*ZIP 00000 does not exist/);

      // Bad encodings, a 1 MB field, bad values, a short row, a line break in a field, an unclosed quote.
      const bad = Buffer.concat([
        Buffer.from(`${HEADER}${rows(2)}`),
        Buffer.from('Jos'),
        Buffer.from([0xe9]), // Latin-1 é: not UTF-8
        Buffer.from(' Garcia,,1 Main St,,Austin,TX,78701,0.73\n'),
        Buffer.from(`Big,,"${'x'.repeat(1024 * 1024)}",,Austin,TX,78701,0.73\n`),
        Buffer.from('Bad Values,,1 Main St,,Austin,ZZ,7870,-1\n'),
        Buffer.from('Short,Row\n'),
        Buffer.from('"Line\nBreak",,1 Main St,,Austin,TX,78701,0.73\n'),
        Buffer.from(`${rows(2)}"Never closed,,1 Main St\n`),
      ]);
      const list = await client.printing.importMailingList(bad);
      assert.equal(list.rows, 10);
      assert.equal(list.errorRows, 6);
      const errors = await client.printing.mailingListRows(list.id, { errorsOnly: true });
      const messages = errors.rows.map(
        (row) => `${row.row}: ${row.errors?.map((error) => `${error.field} ${error.message}`).join(' | ')}`,
      );
      assert.match(messages[0] ?? '', /^3: row Line 4: Field 1 is not UTF-8/);
      assert.match(messages[1] ?? '', /^4: row Line 5: Field 3 is 1,048,576 bytes long/);
      assert.match(messages[2] ?? '', /^5: .*state .*not a USPS state code.* \| postage/);
      assert.match(messages[3] ?? '', /^6: row Line 7 has 2 fields; the header has 8/);
      assert.match(messages[4] ?? '', /^7: name The name holds a control character/);
      assert.match(messages[5] ?? '', /^10: row Line 12: A quoted field is never closed/);
      const refusal = await refused(client.printing.printMailingList(list), 422, 'mailing_list.has_errors');
      assert.match(refusal.message, /6 of the list's 10 rows have errors.*Nothing was printed or charged/);
      assert.deepEqual(await state(server, client), before, 'nothing printed, nothing charged');
    });

    if (fixture.name === 'sqlite') {
      it('reads a 100,000-row file with errors row by row, and refuses more rows than that', async () => {
        const before = await state(server, client);
        const body = `${HEADER}${rows(99_990)}${'Nobody,,,,,,,\n'.repeat(10)}`;
        const list = await client.printing.importMailingList(body);
        assert.equal(list.rows, 100_000);
        assert.equal(list.errorRows, 10);
        const page = await client.printing.mailingListRows(list.id, { errorsOnly: true, limit: 5 });
        assert.equal(page.rows[0]?.row, 99_991);
        assert.equal(page.nextAfter, 99_995);
        await refused(client.printing.printMailingList(list), 422, 'mailing_list.has_errors');
        await refused(client.printing.importMailingList(`${body}${rows(1)}`), 422, 'mailing_list.invalid');
        assert.deepEqual(await state(server, client), before);
      });

      it(
        'prints a 10,000-piece list in one batch issuance into one 10,000-page PDF, rendered again after a stop mid-way',
        { timeout: 300_000 },
        async () => {
          const list = await client.printing.importMailingList(`${HEADER}${rows(10_000, '0.40')}`);
          assert.equal(list.errorRows, 0);
          const before = await client.meter();
          const printed = await client.printing.printMailingList(list, { layout: 'label-4x6' });
          assert.equal(printed.issued.pieces, 10_000);
          const after = await client.meter();
          assert.equal(after.ascendingRegisterMills - before.ascendingRegisterMills, 4_000_000);
          // One module pass and one commit: every indicium of the list shares one package sequence.
          const sequences = await server.indicia.store.db
            .selectFrom('indicia')
            .innerJoin('piece_addresses', 'piece_addresses.indicium_id', 'indicia.id')
            .select('indicia.package_sequence')
            .where('piece_addresses.list_id', '=', list.id)
            .distinct()
            .execute();
          assert.equal(sequences.length, 1);
          // The server stops (as in a crash) part-way through the PDF: the indicia are committed, the
          // list stays `rendering`, and the next start renders it again from them.
          while ((await client.printing.mailingList(list.id)).progress.pagesDone === 0)
            await new Promise((resolve) => setTimeout(resolve, 100));
          await server.indicia.mailingLists.stop();
          const cut = await client.printing.mailingList(list.id);
          assert.equal(cut.state, 'rendering');
          assert.ok(cut.progress.pagesDone < 10_000, `stopped at ${cut.progress.pagesDone} pages`);
          const renderer = new RenderPool();
          const restarted = new MailingLists(
            server.indicia.store.db,
            join(server.indicia.config.dataDir, 'mailing-lists'),
            renderer,
          );
          await restarted.recover();
          await restarted.idle();
          await renderer.close();
          const done = await client.printing.waitForPdf(list.id);
          assert.equal(done.progress.pagesDone, 10_000);
          const folder = mkdtempSync(join(tmpdir(), 'indicia-list-'));
          writeFileSync(join(folder, 'list.pdf'), await client.printing.mailingListPdf(list.id));
          assert.match(runCommand('pdfinfo', [join(folder, 'list.pdf')]).output, /Pages:\s+10000\b/);
        },
      );
    }
  });
}
