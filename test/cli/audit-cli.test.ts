import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openStore } from '../../src/store/index.ts';
import { rewriteChain } from '../audit/audit-support.ts';
import { runIndicia, serveIndicia } from '../support/cli-process.ts';

describe('indicia audit verify', () => {
  // The first start made the demo customer's meter: its psd.* events are in the log and the module log.
  it('says intact (exit 0), names the record an insider changed (exit 1), and starts at an anchor with --from', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'indicia-audit-cli-')), 'data');
    const at = ['--data-dir', dataDir];
    const server = await serveIndicia([...at, '--port', '0'], {
      INDICIA_AUDIT_ANCHOR_INTERVAL: '1',
      INDICIA_AUDIT_VERIFY_INTERVAL: '1',
    });
    // Anchors every second (and once more at shutdown); verifies every second, shown in its metrics.
    let metrics = '';
    for (let attempt = 0; attempt < 100; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      metrics = await (await fetch(`${server.url}/metrics`)).text();
      if (/indicia_audit_records_verified\{[^}]*\} [1-9]/.test(metrics)) break;
    }
    assert.match(metrics, /indicia_audit_records_verified\{[^}]*\} [1-9]/);
    assert.match(metrics, /indicia_audit_anchors_written_total\{[^}]*\} [1-9]/);
    assert.match(metrics, /indicia_audit_last_verification_timestamp_seconds\{[^}]*\} [1-9]/);
    assert.match(metrics, /indicia_audit_verification_failures_total\{[^}]*\} 0/);
    assert.match(metrics, /indicia_audit_anchoring_stopped\{[^}]*\} 0/);
    assert.match(metrics, /indicia_audit_unanchored_events\{[^}]*\} \d+/);
    assert.equal(await server.stop(), 0);

    const intact = await runIndicia(['audit', 'verify', ...at]);
    assert.equal(intact.status, 0, intact.stdout + intact.stderr);
    assert.match(
      intact.stdout,
      /audit log: \d+ record\(s\) in \d+ chain\(s\) checked; anchors 1 to \d+ \(\d+\) checked; [1-9]\d* psd event\(s\) cross-checked/,
    );
    assert.match(intact.stdout, /module log: [1-9]\d* record\(s\) checked/);
    assert.match(intact.stdout, /^intact$/m);
    const newest = Number(/anchors 1 to (\d+)/.exec(intact.stdout)?.[1]);
    const fromNewest = await runIndicia(['audit', 'verify', '--from', String(newest), ...at]);
    assert.equal(fromNewest.status, 0, fromNewest.stdout + fromNewest.stderr);
    assert.match(fromNewest.stdout, new RegExp(`anchors ${newest} to ${newest} \\(1\\) checked`));

    const store = await openStore({ dialect: 'sqlite', file: join(dataDir, 'indicia.sqlite') });
    let target: { chain: string; sequence: number };
    try {
      target = await store.db
        .selectFrom('audit_events')
        .select(['chain', 'sequence'])
        .where('kind', 'like', 'psd.%')
        .orderBy('sequence')
        .executeTakeFirstOrThrow();
      await rewriteChain(store.db, target.chain, target.sequence, (details) => ({
        ...details,
        amountMills: Number(details['amountMills']) + 1_000_000,
      }));
    } finally {
      await store.close();
    }
    const tampered = await runIndicia(['audit', 'verify', ...at]);
    assert.equal(tampered.status, 1, tampered.stdout + tampered.stderr);
    // Named twice: by the anchor whose MAC vouched for the old hashes (a range), and exactly, by
    // the module log whose record holds the true amount.
    assert.match(
      tampered.stdout,
      new RegExp(`first bad record: chain ${target.chain}, record ${target.sequence} `),
    );
    assert.match(
      tampered.stdout,
      new RegExp(`chain ${target.chain}, record \\d+ to \\d+ \\(anchor-head\\): anchor \\d+ vouches`),
    );
    assert.match(
      tampered.stdout,
      new RegExp(
        `chain ${target.chain}, record ${target.sequence} \\(cross-check\\): .*amountMills is 0 in the module log, 1000000 in the event`,
      ),
    );
    assert.match(tampered.stdout, /^NOT INTACT/m);
    const tamperedFrom = await runIndicia(['audit', 'verify', '--from', String(newest), ...at]);
    assert.equal(tamperedFrom.status, 1, tamperedFrom.stdout);
    assert.match(
      tamperedFrom.stdout,
      new RegExp(
        `first bad record: chain ${target.chain}, record \\d+ \\(hash\\): record \\d+, where the walk starts, has hash`,
      ),
    );

    const unknown = await runIndicia(['audit', 'verify', '--from', '9999', ...at]);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /There is no anchor 9999/);
    const badFrom = await runIndicia(['audit', 'verify', '--from', 'first', ...at]);
    assert.equal(badFrom.status, 2);
    const badCommand = await runIndicia(['audit', 'check', ...at]);
    assert.equal(badCommand.status, 2);
    assert.match(badCommand.stderr, /indicia audit verify/);
  });
});
