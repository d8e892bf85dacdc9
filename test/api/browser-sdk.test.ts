import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ts from 'typescript';
import { type BrowserPage, openChromium } from '../support/chromium.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const CLIENT_SOURCE = join(import.meta.dirname, '..', '..', 'src', 'client');

/**
 * The page's origin: `/sdk/<name>.js` is src/client/<name>.ts with its types stripped (as a
 * bundler would ship it), `/` an empty page, and every other path is passed to the Indicia server,
 * so the SDK runs same-origin with the API, as it would in the web app. `serve(api)` points it at
 * another Indicia server, so one browser runs the suite against each dialect's server in turn.
 */
async function startPageServer() {
  let target: URL | undefined;
  const server = createServer((request, response) => {
    const sdk = /^\/sdk\/([a-z-]+)\.js$/.exec(request.url ?? '');
    if (sdk?.[1] !== undefined) {
      const source = readFileSync(join(CLIENT_SOURCE, `${sdk[1]}.ts`), 'utf8');
      const { outputText } = ts.transpileModule(source, {
        compilerOptions: {
          module: ts.ModuleKind.ESNext,
          target: ts.ScriptTarget.ES2022,
          rewriteRelativeImportExtensions: true,
          verbatimModuleSyntax: true,
        },
      });
      response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      response.end(outputText);
      return;
    }
    if (request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end('<!doctype html><title>Indicia SDK in a browser</title><p>SDK test page</p>');
      return;
    }
    if (target === undefined) {
      response.writeHead(503).end();
      return;
    }
    const forwarded = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: request.url,
        method: request.method,
        headers: request.headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    request.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    serve: (api: string) => {
      target = new URL(api);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('the SDK in Chromium (WebCrypto, browser cookies)', () => {
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  let browser: BrowserPage;

  before(async () => {
    pages = await startPageServer();
    browser = await openChromium(pages.url);
  });
  after(async () => {
    await browser.close();
    await pages.close();
  });

  for (const fixture of dialectFixtures) {
    describe(`against a server on ${fixture.name}`, () => {
      let server: TestServer;

      before(async () => {
        server = await startTestServer(fixture);
        pages.serve(server.indicia.url);
      });
      after(() => server.stop());

      it('signs in, enrolls a device with a non-extractable WebCrypto key, funds and prints', async () => {
        const demo = server.indicia.demoCredentials.find((credential) => credential.role === 'customer');
        assert.ok(demo !== undefined);
        const { fingerprint } = await server.indicia.meters.enrollmentKey();
        const outcome = await browser.evaluate<{
          extractable: boolean;
          cookieVisible: boolean;
          registers: { ascendingRegisterMills: number; descendingRegisterMills: number };
          receiptKind: string;
          indicium: string;
          replayCode: string;
        }>(`(async () => {
      const { IndiciaClient } = await import(location.origin + '/sdk/index.js');
      const client = new IndiciaClient({ baseUrl: location.origin });
      await client.signIn(${JSON.stringify(demo.email)}, ${JSON.stringify(demo.password)});
      const device = await client.enrollDevice('Chromium', ${JSON.stringify(fingerprint)});
      await client.addFunds(10000, { number: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' });
      const body = { pieces: [{ postageMills: 730, rateCategory: 'FC' }] };
      const headers = await device.headers('POST', '/v1/indicia', body);
      const printed = await client.request('POST', '/v1/indicia', body, headers);
      device.advance(printed.challenge, printed.registers);
      let replayCode = 'none';
      try { await client.request('POST', '/v1/indicia', body, headers); } catch (error) { replayCode = error.code; }
      return {
        extractable: device.isKeyExtractable,
        cookieVisible: document.cookie.includes('indicia_session'),
        registers: printed.registers,
        receiptKind: printed.receipt.body.kind,
        indicium: printed.indicia[0].data,
        replayCode,
      };
    })()`);
        assert.equal(outcome.extractable, false, 'the HMK cannot be read out of the browser');
        assert.equal(outcome.cookieVisible, false, 'the session cookie is HttpOnly');
        assert.deepEqual(outcome.registers, { ascendingRegisterMills: 730, descendingRegisterMills: 9_270 });
        assert.equal(outcome.receiptKind, 'indicia');
        assert.equal(Buffer.from(outcome.indicium, 'base64').length, 121);
        assert.equal(outcome.replayCode, 'psd.stale_challenge');
      });
    });
  }
});
