import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runIndicia, serveIndicia } from '../support/cli-process.ts';
import { runCommand } from '../support/system-packages.ts';

describe('indicia meters (operator commands beside a running server)', () => {
  it('creates, funds, issues, shows, verifies, disables and prints certificates', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'indicia-meters-cli-')), 'data');
    const server = await serveIndicia(['--data-dir', dataDir, '--port', '0']);
    try {
      const at = ['--data-dir', dataDir];
      const created = await runIndicia([
        'meters',
        'create',
        '--customer',
        '1001',
        '--zip',
        '94107',
        '--max-dr',
        '500.00',
        ...at,
      ]);
      assert.equal(created.status, 0, created.stderr);
      const meterId = /Meter (\S+) created/.exec(created.stdout)?.[1] ?? '';
      // The first start gave the demo customer 421D00000001: the operator's first meter is the
      // next one (docs/operations.md and README's example use this number).
      assert.equal(meterId, '421D00000002');
      const demo = await runIndicia(['meters', 'show', '421D00000001', ...at]);
      assert.match(demo.stdout, /^421D00000001 \(dedicated, customer 100000,/);

      const funded = await runIndicia(['meters', 'fund', meterId, '100.00', ...at]);
      assert.match(funded.stdout, /Funded .* with \$100\.00; it can now print \$100\.00/);
      const tooMuch = await runIndicia(['meters', 'fund', meterId, '450.00', ...at]);
      assert.equal(tooMuch.status, 1);
      assert.match(tooMuch.stderr, /above its maximum of \$500\.00 \(it holds \$100\.00\)/);

      const out = mkdtempSync(join(tmpdir(), 'indicia-indicia-'));
      const issued = await runIndicia([
        'meters',
        'issue',
        meterId,
        '--postage',
        '0.73',
        '--rate',
        'FC',
        '--count',
        '3',
        '--out',
        out,
        ...at,
      ]);
      assert.equal(issued.status, 0, issued.stderr);
      assert.equal(readdirSync(out).length, 3);
      assert.match(issued.stdout, /AR \$2\.19 DR \$97\.81/);

      // Mailing dates outside today .. today + 3 (UTC) are refused before anything is charged.
      for (const date of ['1970-01-01', '9999-12-31']) {
        const refusedDate = await runIndicia([
          'meters',
          'issue',
          meterId,
          '--postage',
          '0.73',
          '--rate',
          'FC',
          '--date',
          date,
          ...at,
        ]);
        assert.equal(refusedDate.status, 1);
        assert.match(
          refusedDate.stderr,
          new RegExp(
            `^indicia: Mailing date ${date} is (before today|too far ahead)\\. A meter prints only for .* Nothing was charged\\.\n$`,
          ),
        );
      }

      const shown = await runIndicia(['meters', 'show', meterId, ...at]);
      assert.match(shown.stdout, /AR \$2\.19 {2}DR \$97\.81 {2}max DR \$500\.00/);

      const file = join(out, readdirSync(out)[0] ?? '');
      const checked = await runIndicia(['meters', 'verify', file, '--check', ...at]);
      assert.equal(checked.status, 0, checked.stdout + checked.stderr);
      assert.match(checked.stdout, /^genuine .*; not seen by a verifier before/);
      const first = await runIndicia(['meters', 'verify', file, '--verifier', 'test-scanner', ...at]);
      assert.equal(first.status, 0, first.stdout + first.stderr);
      assert.match(first.stdout, /^valid/);
      const seen = await runIndicia(['meters', 'verify', file, '--check', ...at]);
      assert.match(seen.stdout, /^genuine .*; seen by a verifier before/);

      const meterPem = await runIndicia(['meters', 'certificate', meterId, ...at]);
      const caPem = await runIndicia(['meters', 'certificate', '--ca', ...at]);
      writeFileSync(join(out, 'meter.pem'), meterPem.stdout);
      writeFileSync(join(out, 'ca.pem'), caPem.stdout);
      const chain = runCommand('openssl', ['verify', '-CAfile', join(out, 'ca.pem'), join(out, 'meter.pem')]);
      assert.equal(chain.status, 0, chain.output);

      const disabled = await runIndicia([
        'meters',
        'disable',
        meterId,
        '--reason',
        'duplicate scanned',
        ...at,
      ]);
      assert.equal(disabled.status, 0, disabled.stderr);
      assert.match(disabled.stdout, /is disabled: .*certificate\(s\) [0-9a-f]{16} revoked/);
      // The meter's earlier pieces stay genuine after its certificate is revoked.
      assert.match((await runIndicia(['meters', 'verify', file, '--check', ...at])).stdout, /^genuine/);
      const refused = await runIndicia([
        'meters',
        'issue',
        meterId,
        '--postage',
        '0.73',
        '--rate',
        'FC',
        ...at,
      ]);
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /is disabled/);

      const usage = await runIndicia(['meters', 'issue', meterId, '--rate', 'FC', ...at]);
      assert.equal(usage.status, 2);
      assert.match(usage.stderr, /--postage is required/);
      // The server kept serving throughout: its modules are not the operator's.
      assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});

describe('indicia pool and indicia reconcile', () => {
  it('sets up pooled mode, prints for a customer, withdraws the mini-PSD and reconciles', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'indicia-pool-cli-')), 'data');
    const missing = await runIndicia(['pool', 'status', '--data-dir', dataDir]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no Indicia installation in .*: start the server once/);
    const server = await serveIndicia(['--data-dir', dataDir, '--port', '0']);
    try {
      const at = ['--data-dir', dataDir];
      for (const command of [
        ['pool', 'setup', '--zip', '10001'],
        ['pool', 'purchase', '2000.00', '--reference', 'PO-1'],
        ['pool', 'deposit', '501', '50.00'],
      ]) {
        const result = await runIndicia([...command, ...at]);
        assert.equal(result.status, 0, result.stderr);
      }
      const issued = await runIndicia(['pool', 'issue', '501', '--postage', '0.73', '--rate', 'FC', ...at]);
      assert.equal(issued.status, 0, issued.stderr);
      const mini = /421P\d{8}/.exec(issued.stdout)?.[0] ?? '';
      const byHand = await runIndicia(['meters', 'fund', mini, '10.00', ...at]);
      assert.equal(byHand.status, 1);
      assert.match(byHand.stderr, /is a pooled mini-PSD/);
      const withdrawn = await runIndicia(['pool', 'withdraw', mini, ...at]);
      assert.equal(withdrawn.status, 0, withdrawn.stderr);
      assert.match(withdrawn.stdout, /\$999\.27 went back to the master PSD/);
      const status = await runIndicia(['pool', 'status', ...at]);
      assert.equal(status.status, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`^  mini-PSD ${mini} withdrawn$`, 'm'));
      assert.doesNotMatch(status.stdout, new RegExp(`${mini} idle`));
      const reconciled = await runIndicia(['reconcile', ...at]);
      assert.equal(reconciled.status, 0, reconciled.stdout + reconciled.stderr);
      assert.match(
        reconciled.stdout,
        /pool of master 421G\d{8}: purchased \$2000\.00 {2}GPSD\.AR \$0\.73 .* balanced/,
      );
      assert.match(reconciled.stdout, /3 meter\(s\), 1 pool\(s\) and 1 customer balance\(s\) .*all balanced/);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
