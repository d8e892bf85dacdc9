import 'reflect-metadata';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { auditEventsFor } from '../../src/audit/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { reconcileMeters } from '../../src/meters/index.ts';
import { withOperatorServices } from '../../src/installation/index.ts';

const KILLS = 20;
const child = join(import.meta.dirname, '..', 'support', 'issuing-child.ts');

function start(args: readonly string[]): {
  process: ChildProcess;
  lines: string[];
  waitFor: (prefix: string) => Promise<string>;
  exited: Promise<void>;
} {
  const spawned = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buffer = '';
  let errors = '';
  const waiters: { prefix: string; resolve: (line: string) => void }[] = [];
  spawned.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      lines.push(line);
      for (const waiter of waiters.filter((candidate) => line.startsWith(candidate.prefix))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  spawned.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise<void>((resolve) => spawned.on('exit', () => resolve()));
  return {
    process: spawned,
    lines,
    exited,
    waitFor: (prefix) =>
      new Promise((resolve, reject) => {
        const done = lines.find((line) => line.startsWith(prefix));
        if (done !== undefined) {
          resolve(done);
          return;
        }
        waiters.push({ prefix, resolve });
        void exited.then(() =>
          setTimeout(() => reject(new Error(`child exited before "${prefix}":\n${errors}`)), 50),
        );
      }),
  };
}

describe('crash: an issuing client killed with SIGKILL', () => {
  it(`loses nothing it was given and moves nothing else, over ${KILLS} kills`, async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'indicia-crash-'));
    const setup = start(['setup', dataDir]);
    const meterId = (await setup.waitFor('METER ')).split(' ')[1] ?? '';
    await setup.exited;
    const received = new Map<string, string>();
    let afterFirstIndicium = 0;
    for (let kill = 0; kill < KILLS; kill += 1) {
      const run = start(['issue', dataDir, meterId]);
      await run.waitFor('READY');
      // Kill at a random moment: sometimes before the first commit, mostly while issuing (after
      // the first indicium, however slowly a loaded machine gets there).
      const isWhileIssuing = kill % 5 !== 0;
      if (isWhileIssuing) await run.waitFor('ISSUED ');
      const delay = Math.floor(Math.random() * (isWhileIssuing ? 200 : 20));
      await new Promise((resolve) => setTimeout(resolve, delay));
      run.process.kill('SIGKILL');
      await run.exited;
      for (const line of run.lines.filter((text) => text.startsWith('ISSUED '))) {
        const [, id = '', data = ''] = line.split(' ');
        received.set(id, data);
      }
      if (run.lines.some((line) => line.startsWith('ISSUED '))) afterFirstIndicium += 1;

      // After each crash: every indicium the client holds is in the log, and the books balance.
      const config = loadConfig({
        env: { INDICIA_DATA_DIR: dataDir, INDICIA_CRYPTO_MODULES: '2' },
        cwd: dataDir,
      });
      await withOperatorServices(config, async ({ store, custody }) => {
        const logged = new Map(
          (
            await store.db
              .selectFrom('indicia')
              .select(['id', 'data'])
              .where('meter_id', '=', meterId)
              .execute()
          ).map((row) => [row.id, row.data]),
        );
        for (const [id, data] of received)
          assert.equal(logged.get(id), data, `indicium ${id} the client received is in the log`);
        const report = await reconcileMeters({ db: store.db, custody });
        assert.equal(report.isBalanced, true, JSON.stringify(report.meters));
      });
    }
    assert.ok(received.size > 0, 'the client received indicia');
    assert.ok(afterFirstIndicium >= KILLS / 2, 'most kills landed while issuing');

    // One more run: the modules come back, recover whatever the kills interrupted, and issue.
    const last = start(['issue', dataDir, meterId]);
    await last.waitFor('ISSUED ');
    last.process.kill('SIGKILL');
    await last.exited;
    const config = loadConfig({ env: { INDICIA_DATA_DIR: dataDir }, cwd: dataDir });
    await withOperatorServices(config, async ({ store }) => {
      const inhibited = await auditEventsFor(store.db, { kind: 'vault.module_inhibited' });
      assert.deepEqual(inhibited, [], 'no module ever had to inhibit itself');
      const discarded = await auditEventsFor(store.db, { kind: 'vault.auto_recovery_discarded' });
      t.diagnostic(
        `${received.size} indicia received; ${discarded.length} uncommitted module step(s) rolled back by auto-recovery`,
      );
    });
  });
});
