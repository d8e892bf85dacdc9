import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runIndicia, serveIndicia } from '../support/cli-process.ts';

describe('indicia authority and indicia certificates (beside a running server)', () => {
  it('reports a duplicate scan, revokes certificates, rolls the CA over and prints the CRLs', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'indicia-authority-cli-')), 'data');
    const server = await serveIndicia(['--data-dir', dataDir, '--port', '0']);
    try {
      const at = ['--data-dir', dataDir];
      const run = async (args: string[], status = 0) => {
        const result = await runIndicia([...args, ...at]);
        assert.equal(result.status, status, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
        return result.stdout;
      };
      const meterOf = async (customer: string) => {
        const created = await run([
          'meters',
          'create',
          '--customer',
          customer,
          '--zip',
          '94107',
          '--max-dr',
          '500.00',
        ]);
        const [, meterId = '', serial = ''] =
          /Meter (\S+) created; certificate ([0-9a-f]{16})/.exec(created) ?? [];
        await run(['meters', 'fund', meterId, '10.00']);
        return { meterId, serial };
      };

      const first = await meterOf('2001');
      const out = mkdtempSync(join(tmpdir(), 'indicia-authority-pieces-'));
      await run(['meters', 'issue', first.meterId, '--postage', '0.73', '--rate', 'FC', '--out', out]);
      const file = join(out, readdirSync(out)[0] ?? '');
      await run(['meters', 'verify', file, '--verifier', 'scanner-sfo']);
      const duplicate = await run(['meters', 'verify', file, '--verifier', 'scanner-lax'], 1);
      assert.match(duplicate, /^duplicate .*report rpr_\S+ filed for the authority, meter_disabled/);
      const reports = await run(['authority', 'reports']);
      assert.match(
        reports,
        new RegExp(`duplicate meter ${first.meterId} customer 2001 .* by scanner-lax: .*meter_disabled`),
      );
      assert.match(
        await run(['certificates', 'show', first.serial]),
        /revoked {6}\S+ \(privilege-withdrawn\)/,
      );

      const before = await run(['authority', 'status']);
      assert.match(
        before,
        /^generation 1 \(current\): certificate [0-9a-f]{16}, .* trusted\n {2}next key SHA-256 [0-9a-f]{64}/,
      );
      const rolled = await run(['authority', 'roll-over']);
      assert.match(rolled, /CA generation 2 \(certificate ([0-9a-f]{16})\) now certifies new meters/);
      const generation2 = /CA generation 2 \(certificate ([0-9a-f]{16})\)/.exec(rolled)?.[1] ?? '';
      assert.match(
        rolled,
        /generation 2 \(current\): .* trusted\n.*\n {2}cross-certificate [0-9a-f]{16} \(signed by generation 1\)/,
      );
      const second = await meterOf('2002');
      assert.match(
        await run(['certificates', 'show', second.serial]),
        new RegExp(`signed by {4}CA certificate ${generation2}`),
      );

      const revoked = await run([
        'certificates',
        'revoke',
        second.serial,
        '--reason',
        'superseded',
        '--note',
        'test',
      ]);
      assert.match(
        revoked,
        /is revoked \(superseded\) for meter .*the meter is suspended: give it a new key/,
      );
      const badReason = await runIndicia([
        'certificates',
        'revoke',
        second.serial,
        '--reason',
        'bored',
        ...at,
      ]);
      assert.equal(badReason.status, 2);
      assert.match(badReason.stderr, /--reason is one of unspecified, key-compromise/);
      const again = await runIndicia([
        'certificates',
        'revoke',
        second.serial,
        '--reason',
        'superseded',
        ...at,
      ]);
      assert.equal(again.status, 1);
      assert.match(again.stderr, /already revoked/);

      const crl = await run(['authority', 'crl']);
      assert.equal((crl.match(/-----BEGIN X509 CRL-----/g) ?? []).length, 2);
      // The running server sees the roll-over the operator made.
      const cross = await (await fetch(`${server.url}/v1/authority/cross-certificates`)).text();
      assert.equal((cross.match(/BEGIN CERTIFICATE/g) ?? []).length, 1);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
