import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runIndicia, serveIndicia } from '../support/cli-process.ts';

describe('indicia meters plan / refund-requests / refund-decide', () => {
  it("shows and sets a customer's pricing plan, lists refund requests, refuses bad decisions", async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'indicia-refunds-cli-')), 'data');
    const server = await serveIndicia(['--data-dir', dataDir, '--port', '0']);
    try {
      const at = ['--data-dir', dataDir];
      const shown = await runIndicia(['meters', 'plan', '100000', ...at]);
      assert.equal(shown.status, 0, shown.stderr);
      assert.match(shown.stdout, /plan standard \(the default\); refunds: review window, 60 days/);
      const set = await runIndicia(['meters', 'plan', '100000', 'spoilage-cap', ...at]);
      assert.match(set.stdout, /plan spoilage-cap; refunds: spoilage cap, 1% of printing/);
      const unknown = await runIndicia(['meters', 'plan', '100000', 'gold', ...at]);
      assert.equal(unknown.status, 1);
      assert.match(unknown.stderr, /no pricing plan "gold"/);
      const back = await runIndicia(['meters', 'plan', '100000', '--default', ...at]);
      assert.match(back.stdout, /plan standard \(the default\)/);

      const none = await runIndicia(['meters', 'refund-requests', '--status', 'pending', ...at]);
      assert.equal(none.stdout, 'No refund requests.\n');
      const badStatus = await runIndicia(['meters', 'refund-requests', '--status', 'lost', ...at]);
      assert.equal(badStatus.status, 2);
      const badDecision = await runIndicia(['meters', 'refund-decide', 'rfq_x', 'maybe', ...at]);
      assert.equal(badDecision.status, 2);
      assert.match(badDecision.stderr, /approve\|deny/);
      const missing = await runIndicia([
        'meters',
        'refund-decide',
        'rfq_00000000-0000-4000-8000-000000000000',
        'approve',
        ...at,
      ]);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /no refund request/);
    } finally {
      await server.stop();
    }
  });
});
