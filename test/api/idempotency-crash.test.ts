import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient } from '../../src/client/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { findFreePort } from '../support/free-port.ts';

const CARD = { number: '4242424242424242', expMonth: 1, expYear: 2099, cvc: '999' };
const CHILD = join(import.meta.dirname, '..', 'support', 'idempotent-server-child.ts');
/** Kills at random moments, per dialect (bounded: each costs a server start). */
const RANDOM_KILLS = 4;

interface Server {
  readonly process: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<void>;
  readonly ready: Promise<string>;
}

function startServer(dataDir: string, port: number, databaseUrl: string): Server {
  const child = spawn(process.execPath, [CHILD, dataDir, String(port), databaseUrl], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let errors = '';
  let buffer = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      lines.push(...parts);
      const line = parts.find((text) => text.startsWith('READY '));
      if (line !== undefined) resolve(line);
    });
    void exited.then(() => reject(new Error(`the server exited before it was ready:\n${errors}`)));
  });
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  return { process: child, lines, exited, ready };
}

for (const fixture of dialectFixtures) {
  describe(`idempotency keys across a server killed with SIGKILL, on ${fixture.name}`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'indicia-idem-crash-'));
    let port: number;
    let databaseUrl = '';
    let dispose = (): Promise<void> => Promise.resolve();
    let server: Server;
    let url: string;
    let demo: IndiciaClient;
    let cookie: string;
    let csrf: string;

    const restart = async (): Promise<void> => {
      server = startServer(dataDir, port, databaseUrl);
      url = (await server.ready).split(' ')[1] ?? '';
    };

    before(async () => {
      port = await findFreePort();
      if (fixture.name === 'postgres') {
        const fresh = await fixture.freshDatabase();
        if (fresh.target.dialect === 'postgres') databaseUrl = fresh.target.url;
        dispose = fresh.dispose;
      }
      await restart();
      const [, email = '', password = ''] = (
        server.lines.find((line) => line.startsWith('DEMO ')) ?? ''
      ).split(' ');
      const fingerprint = (await server.ready).split(' ')[2] ?? '';
      demo = new IndiciaClient({ baseUrl: url });
      await demo.signIn(email, password);
      await demo.enrollDevice('crash tests', fingerprint);
      await demo.addFunds(100_000, CARD);
      const signIn = await fetch(`${url}/v1/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      });
      cookie = /indicia_session=([^;]*)/.exec(signIn.headers.get('set-cookie') ?? '')?.[1] ?? '';
      csrf = ((await signIn.json()) as { session: { csrfToken: string } }).session.csrfToken;
    });
    after(async () => {
      server.process.kill('SIGKILL');
      await server.exited;
      await dispose();
    });

    /** The device's registers as the module holds them (the truth after a lost answer). */
    const registers = async (): Promise<{ ar: number; dr: number; challenge: string }> => {
      await demo.syncDevice();
      const device = demo.device;
      assert.ok(device !== undefined);
      return { ar: device.ascendingRegister, dr: device.descendingRegister, challenge: device.challenge };
    };

    const indiciaCount = async (): Promise<number> => {
      let count = 0;
      let cursor: string | null = null;
      do {
        const query: string = cursor === null ? '?limit=200' : `?limit=200&cursor=${cursor}`;
        const page = (await (
          await fetch(`${url}/v1/indicia${query}`, { headers: { cookie: `indicia_session=${cookie}` } })
        ).json()) as { indicia: unknown[]; nextCursor: string | null };
        count += page.indicia.length;
        cursor = page.nextCursor;
      } while (cursor !== null);
      return count;
    };

    /** A signed request, prepared once: a retry sends exactly the same bytes and headers. */
    const prepare = async (path: string, body: unknown, key: string) => {
      const device = demo.device;
      assert.ok(device !== undefined);
      const headers = {
        'content-type': 'application/json',
        cookie: `indicia_session=${cookie}`,
        'x-csrf-token': csrf,
        'idempotency-key': key,
        ...(await device.headers('POST', path, body)),
      };
      return () => fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    };

    const requests = {
      indicia: { path: '/v1/indicia', body: { pieces: [{ postageMills: 612, rateCategory: 'FC' }] } },
      funds: { path: '/v1/funds', body: { amountMills: 5_000, paymentMethod: { type: 'card', ...CARD } } },
    };

    for (const point of ['before', 'after'] as const)
      for (const kind of ['indicia', 'funds'] as const)
        it(`answers the retry of ${kind} killed ${point} the commit definitely, with one effect`, async () => {
          const start = await registers();
          const piecesBefore = await indiciaCount();
          const { path, body } = requests[kind];
          const send = await prepare(path, body, `crash-${point}-${randomUUID()}`);
          await assert.rejects(send(), 'the server died before it answered');
          await server.exited;
          await restart();
          const retried = await send();
          const text = await retried.text();
          assert.equal(retried.status, 201, text);
          // Killed before the commit: it runs now, once. After: the committed effect's answer.
          assert.equal(retried.headers.get('idempotent-replayed'), point === 'after' ? 'true' : null);
          const answer = JSON.parse(text) as {
            challenge: string;
            registers: { ascendingRegisterMills: number; descendingRegisterMills: number };
          };
          const end = await registers();
          assert.equal(answer.challenge, end.challenge, 'the answer carries the challenge the module holds');
          assert.deepEqual(answer.registers, {
            ascendingRegisterMills: end.ar,
            descendingRegisterMills: end.dr,
          });
          if (kind === 'indicia') {
            assert.equal(end.ar - start.ar, 612, 'postage charged exactly once');
            assert.equal(await indiciaCount(), piecesBefore + 1, 'exactly one indicium');
          } else {
            assert.equal(end.dr - start.dr, 5_000, 'funded exactly once');
            assert.equal(end.ar, start.ar);
          }
          const again = await send();
          assert.equal(again.status, 201);
          assert.equal(again.headers.get('idempotent-replayed'), 'true');
          assert.equal(await again.text(), text, 'every retry gets the same answer');
        });

    it(`gives every key a definite answer over ${RANDOM_KILLS} kills at random moments`, async () => {
      const start = await registers();
      const piecesBefore = await indiciaCount();
      let charged = 0;
      for (let kill = 0; kill < RANDOM_KILLS; kill += 1) {
        const postage = 100 + kill;
        const send = await prepare(
          '/v1/indicia',
          { pieces: [{ postageMills: postage, rateCategory: 'FC' }] },
          randomUUID(),
        );
        const first = send().then(
          (answer) => answer.status,
          () => null,
        );
        await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 60)));
        server.process.kill('SIGKILL');
        await server.exited;
        await first;
        await restart();
        const retried = await send();
        assert.equal(retried.status, 201, await retried.text());
        charged += postage;
        await registers();
      }
      const end = await registers();
      assert.equal(end.ar - start.ar, charged, 'each key charged exactly once');
      assert.equal(await indiciaCount(), piecesBefore + RANDOM_KILLS);
    });
  });
}
