import 'reflect-metadata';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.ts';
import { type OperatorServices, withOperatorServices } from '../../src/installation/index.ts';
import { type Mills, mills } from '../../src/money/index.ts';
import { VaultError } from '../../src/vault/index.ts';
import { runIndicia, serveIndicia } from '../support/cli-process.ts';
import { damageRing } from '../support/damaged-ring.ts';

const DATABASE_FILES = ['indicia.sqlite', 'indicia.sqlite-wal', 'indicia.sqlite-shm'];
const piece = { postage: 500 as Mills, rateCategory: 'FC' };

/** A fresh installation made by the server's first start (then stopped): its folder and officer credential. */
async function installation(env: Record<string, string> = {}): Promise<{ dataDir: string; officer: string }> {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'indicia-installation-')), 'data');
  const server = await serveIndicia(['--data-dir', dataDir, '--port', '0'], env);
  const officer = /stored only as a hash:\s+([A-Za-z0-9]{20})/.exec(server.output())?.[1];
  assert.equal(await server.stop(), 0);
  assert.ok(officer);
  return { dataDir, officer };
}

/** An operator command (`indicia meters …`) in this process: module 100, beside any server. */
function operator<T>(
  dataDir: string,
  work: (services: OperatorServices) => Promise<T>,
  env: Record<string, string> = {},
): Promise<T> {
  return withOperatorServices(loadConfig({ env: { INDICIA_DATA_DIR: dataDir, ...env }, cwd: dataDir }), work);
}

const copyDatabase = (from: string, to: string): void => {
  for (const file of DATABASE_FILES) {
    rmSync(join(to, file), { force: true });
    if (existsSync(join(from, file))) copyFileSync(join(from, file), join(to, file));
  }
};

const operatorSerialIn = (status: string): string =>
  /(SW-[0-9A-F]{10}) \(software\) the operator commands' module \(100\)/.exec(status)?.[1] ?? '';

async function readiness(url: string): Promise<number> {
  return (await fetch(`${url}/readyz`)).status;
}

describe("the installation's modules from the command line", () => {
  it("lists, inhibits and re-anchors the operator commands' own module after a rollback past its ring", async () => {
    const { dataDir, officer } = await installation();
    const meterId = await operator(dataDir, async ({ meters }) => {
      const meter = await meters.create({
        customerNumber: 7002,
        licensingZip: '94107',
        maxDescendingRegister: mills(500_000),
      });
      await meters.fund(meter.meterId, 100_000, 'drill');
      return meter.meterId;
    });
    const backup = mkdtempSync(join(tmpdir(), 'indicia-backup-'));
    copyDatabase(dataDir, backup);
    // Four pieces printed by operator commands: more than the module's ring (3) holds.
    for (let index = 0; index < 4; index += 1)
      await operator(dataDir, ({ meters }) => meters.issue(meterId, [piece]));
    copyDatabase(backup, dataDir);

    await assert.rejects(
      operator(dataDir, ({ meters }) => meters.issue(meterId, [piece])),
      (error: unknown) =>
        error instanceof VaultError &&
        (error.code === 'vault.module_inhibited' || error.code === 'vault.service_stopped'),
    );
    const status = await runIndicia(['modules', 'status', '--data-dir', dataDir]);
    assert.equal(status.status, 0, status.stderr);
    const serial = operatorSerialIn(status.stdout);
    assert.ok(serial, `the operator's module is listed:\n${status.stdout}`);
    assert.match(
      status.stdout,
      new RegExp(`${serial} \\(software\\)[^\\n]*\\n[^\\n]*\\n[^\\n]*\\n  checkpoints [^\\n]*MISMATCH`),
    );
    assert.match(status.stdout, /inhibited {4}yes \(database\)/);
    assert.match(
      status.stdout,
      new RegExp(
        `installation: 1 inhibited module\\(s\\) \\(${serial}\\), threshold 1: every process stops serving`,
      ),
    );
    const selftest = await runIndicia(['modules', 'selftest', '--data-dir', dataDir]);
    assert.match(
      selftest.stdout,
      new RegExp(`${serial}\\s+pass .*\\[the operator commands' module \\(100\\)\\]`),
    );

    const reanchored = await runIndicia(['modules', 'reanchor', '--serial', serial, '--data-dir', dataDir], {
      INDICIA_CRYPTO_OFFICER_CREDENTIAL: officer,
    });
    assert.equal(reanchored.status, 0, reanchored.stderr);
    const healed = await runIndicia(['modules', 'status', '--data-dir', dataDir]);
    assert.doesNotMatch(healed.stdout, /MISMATCH/);
    assert.match(healed.stdout, /installation: 0 inhibited module\(s\)/);
    const issued = await operator(dataDir, ({ meters }) => meters.issue(meterId, [piece]));
    assert.equal(issued.length, 1);
    rmSync(backup, { recursive: true, force: true });
  });

  it("counts the operator's inhibited module in a running server's threshold, and readiness shows it", async () => {
    const { dataDir } = await installation();
    // Threshold 2: the operator's module alone does not stop the server.
    let server = await serveIndicia(['--data-dir', dataDir, '--port', '0'], {
      INDICIA_INHIBIT_THRESHOLD: '2',
    });
    try {
      assert.equal(await readiness(server.url), 200);
      damageRing(join(dataDir, 'vault'), 100);
      await assert.rejects(
        operator(dataDir, ({ meters }) =>
          meters.create({
            customerNumber: 7003,
            licensingZip: '94107',
            maxDescendingRegister: mills(500_000),
          }),
        ),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.service_stopped',
      );
      assert.equal(await readiness(server.url), 200, 'one of two: the server still serves');
      const counted = await runIndicia(['modules', 'status', '--data-dir', dataDir], {
        INDICIA_INHIBIT_THRESHOLD: '2',
      });
      assert.match(
        counted.stdout,
        /installation: 1 inhibited module\(s\) \(SW-[0-9A-F]{10}\), threshold 2: the service runs/,
      );
      assert.match(counted.stdout, /inhibited {4}yes \(module\) — its checkpoint memory is damaged/);
      // Re-anchoring a server's module needs that server stopped.
      const serverSerial =
        /(SW-[0-9A-F]{10}) \(software\) server module 1 of 2/.exec(counted.stdout)?.[1] ?? '';
      const refused = await runIndicia(
        ['modules', 'reanchor', '--serial', serverSerial, '--data-dir', dataDir],
        {
          INDICIA_CRYPTO_OFFICER_CREDENTIAL: 'whatever-it-is',
        },
      );
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /the server is running .* stop it first \(pid \d+\)/);
    } finally {
      assert.equal(await server.stop(), 0);
    }
    // Threshold 1: the operator's inhibited module counts, and this server is not ready.
    server = await serveIndicia(['--data-dir', dataDir, '--port', '0'], { INDICIA_INHIBIT_THRESHOLD: '1' });
    try {
      assert.equal(await readiness(server.url), 503);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('zeroizes with the officer credential and a confirmation, the server stopped; an officer initializes again', async () => {
    const { dataDir, officer } = await installation();
    const keyset = join(dataDir, 'vault', 'keyset.json');
    const before = await runIndicia(['modules', 'status', '--data-dir', dataDir]);
    const serials = [...before.stdout.matchAll(/(SW-[0-9A-F]{10}) \(software\) server module/g)].map(
      (match) => match[1] ?? '',
    );
    assert.equal(serials.length, 2);
    const [serial = ''] = serials;
    const credential = { INDICIA_CRYPTO_OFFICER_CREDENTIAL: officer };

    const unconfirmed = await runIndicia(
      ['modules', 'zeroize', '--serial', serial, '--data-dir', dataDir],
      credential,
    );
    assert.equal(unconfirmed.status, 2);
    assert.match(unconfirmed.stderr, /Every PSD package.*unreadable for good/s);
    assert.match(unconfirmed.stderr, /--destroy-keys/);
    const server = await serveIndicia(['--data-dir', dataDir, '--port', '0']);
    const whileRunning = await runIndicia(
      ['modules', 'zeroize', '--serial', serial, '--destroy-keys', '--data-dir', dataDir],
      credential,
    );
    assert.equal(await server.stop(), 0);
    assert.equal(whileRunning.status, 1);
    assert.match(whileRunning.stderr, /the server is running/);
    const wrong = await runIndicia(
      ['modules', 'zeroize', '--serial', serial, '--destroy-keys', '--data-dir', dataDir],
      {
        INDICIA_CRYPTO_OFFICER_CREDENTIAL: 'not-the-credential',
      },
    );
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /credential is wrong/);
    assert.equal(existsSync(keyset), true, 'refusals destroy nothing');

    const zeroized = await runIndicia(
      ['modules', 'zeroize', '--serial', serial, '--destroy-keys', '--data-dir', dataDir],
      credential,
    );
    assert.equal(zeroized.status, 0, zeroized.stderr);
    assert.match(zeroized.stdout, /retired serials: .*SW-/);
    assert.equal(existsSync(keyset), false);
    const status = await runIndicia(['modules', 'status', '--data-dir', dataDir]);
    for (const each of serials)
      assert.match(
        status.stdout,
        new RegExp(`${each} \\(software\\)[^\\n]*\\n  state {8}zeroized — its keys were destroyed`),
      );
    const refusedStart = await runIndicia(['serve', '--data-dir', dataDir, '--port', '0']);
    assert.equal(refusedStart.status, 1);
    assert.match(refusedStart.stderr, /keys were zeroized at .*indicia modules initialize/);

    const initialized = await runIndicia(['modules', 'initialize', '--data-dir', dataDir]);
    assert.equal(initialized.status, 0, initialized.stderr);
    assert.match(initialized.stdout, /stored only as a hash:\n {2}[A-Za-z0-9]{20}/);
    const renewed = await runIndicia(['modules', 'status', '--data-dir', dataDir]);
    const newSerials = [...renewed.stdout.matchAll(/(SW-[0-9A-F]{10}) \(software\) server module/g)]
      .map((match) => match[1] ?? '')
      .filter((each) => !serials.includes(each));
    assert.equal(newSerials.length, 2, renewed.stdout);
    for (const each of serials)
      assert.match(
        renewed.stdout,
        new RegExp(`${each} \\(software\\)[^\\n]*\\n  retired — the keys it used were zeroized`),
      );
    const again = await runIndicia(['modules', 'initialize', '--data-dir', dataDir]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /not zeroized/);
  });
});
