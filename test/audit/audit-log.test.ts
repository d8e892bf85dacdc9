import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AUDIT_ANCHOR_LABEL,
  AuditError,
  anchorMacs,
  appendAuditEvents,
  genesisHash,
  moduleLogCrossCheck,
  verifyAuditChain,
  verifyAuditLog,
  writeAnchor,
} from '../../src/audit/index.ts';
import { createCustodyService } from '../../src/custody/index.ts';
import { startAuditAnchorJob } from '../../src/jobs/index.ts';
import type { Mills } from '../../src/money/index.ts';
import type { Store } from '../../src/store/index.ts';
import { createMetrics } from '../../src/telemetry/index.ts';
import type { ModulePool } from '../../src/vault/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { openMigratedStore } from '../support/store-fixture.ts';
import { capturingLogger, openTestPool, rewriteChain } from './audit-support.ts';

const mills = (value: number): Mills => value as Mills;
const event = (kind: string, details: Record<string, unknown> = {}) => ({ kind, details });

async function append(store: Store, chain: string | undefined, count: number): Promise<void> {
  await store.db.transaction().execute(async (trx) => {
    const events = Array.from({ length: count }, (_, index) => event('test.event', { index }));
    await (chain === undefined ? appendAuditEvents(trx, events) : appendAuditEvents(trx, events, { chain }));
  });
}

for (const fixture of dialectFixtures) {
  describe(`audit log chains and anchors on ${fixture.name}`, () => {
    let store: Store;
    let dispose: () => Promise<void>;
    let pool: ModulePool;
    before(async () => {
      ({ store, dispose } = await openMigratedStore(fixture));
      pool = await openTestPool();
    });
    after(async () => {
      await pool.close();
      await dispose();
    });
    const macs = () => anchorMacs((work) => pool.withModule(work));
    const verify = (options: { from?: number; withCrossCheck?: boolean } = {}) =>
      verifyAuditLog(store.db, {
        verifyMac: macs().verify,
        ...(options.from === undefined ? {} : { from: options.from }),
        ...(options.withCrossCheck === true
          ? {
              crossCheck: moduleLogCrossCheck(store.db, (sealed) =>
                pool.withModule((module) => module.verifyCheckpoint(sealed)),
              ),
            }
          : {}),
      });
    const anchorJob = (logger = capturingLogger().logger, metrics = createMetrics()) =>
      startAuditAnchorJob({ db: store.db, macs: macs(), logger, metrics, intervalSeconds: 0 });
    const clear = async () => {
      for (const table of ['audit_anchors', 'audit_events', 'audit_heads', 'module_log'] as const)
        await store.db.deleteFrom(table).execute();
    };

    it('keeps a head and a sequence per chain; the default chain is installation', async () => {
      await clear();
      await append(store, undefined, 2);
      await append(store, 'SW-AAAAAAAAAA', 3);
      await append(store, 'SW-BBBBBBBBBB', 1);
      await append(store, 'installation', 1);
      const heads = await store.db.selectFrom('audit_heads').selectAll().orderBy('chain').execute();
      assert.deepEqual(
        heads.map((head) => [head.chain, head.sequence]),
        [
          ['SW-AAAAAAAAAA', 3],
          ['SW-BBBBBBBBBB', 1],
          ['installation', 3],
        ],
      );
      const first = await store.db
        .selectFrom('audit_events')
        .select(['previous_hash'])
        .where('chain', '=', 'SW-AAAAAAAAAA')
        .where('sequence', '=', 1)
        .executeTakeFirstOrThrow();
      assert.equal(first.previous_hash, genesisHash('SW-AAAAAAAAAA'));
      assert.notEqual(genesisHash('SW-AAAAAAAAAA'), genesisHash('installation'));
      assert.deepEqual(await verifyAuditChain(store.db), {
        isIntact: true,
        events: 7,
        firstBrokenSequence: null,
      });
      await assert.rejects(
        store.db.transaction().execute((trx) => appendAuditEvents(trx, [event('x')], { chain: ' padded ' })),
        (error: unknown) => error instanceof AuditError && error.code === 'audit.invalid_chain',
      );
      // An event moved to another chain breaks that chain's links.
      await store.db
        .updateTable('audit_events')
        .set({ chain: 'SW-CCCCCCCCCC' })
        .where('chain', '=', 'SW-BBBBBBBBBB')
        .execute();
      assert.equal((await verifyAuditChain(store.db)).isIntact, false);
    });

    it('anchors every head under a module MAC; verifies from genesis or from an anchor; counts what is not yet anchored', async () => {
      await clear();
      const job = anchorJob();
      assert.deepEqual(await job.runOnce(), { kind: 'unchanged', anchor: null });
      await append(store, undefined, 3);
      await append(store, 'SW-AAAAAAAAAA', 2);
      assert.deepEqual(await job.runOnce(), { kind: 'anchored', anchor: 1, chains: 2 });
      await append(store, 'SW-AAAAAAAAAA', 2);
      assert.deepEqual(await job.runOnce(), { kind: 'anchored', anchor: 2, chains: 2 });
      assert.deepEqual(await job.runOnce(), { kind: 'unchanged', anchor: 2 });
      await append(store, undefined, 4);

      const full = await verify();
      assert.equal(full.isIntact, true, JSON.stringify(full.problems));
      assert.deepEqual(
        [full.records, full.chains, full.anchors, full.firstAnchor, full.newestAnchor, full.unanchored],
        [11, 2, 2, 1, 2, 4],
      );
      const fromTwo = await verify({ from: 2 });
      assert.equal(fromTwo.isIntact, true);
      assert.deepEqual([fromTwo.records, fromTwo.anchors, fromTwo.unanchored], [4, 1, 4]);
      await assert.rejects(
        verify({ from: 9 }),
        (error: unknown) => error instanceof AuditError && error.code === 'audit.unknown_anchor',
      );

      // The MAC is the module's, under its label: another label, or another installation's keys, do not verify.
      const record = await store.db
        .selectFrom('audit_anchors')
        .selectAll()
        .where('sequence', '=', 2)
        .executeTakeFirstOrThrow();
      const bytes = Buffer.from(record.record, 'utf8');
      const mac = Buffer.from(record.mac, 'base64');
      assert.equal(
        await pool.withModule((module) => module.services.verifyRecordMac(AUDIT_ANCHOR_LABEL, bytes, mac)),
        true,
      );
      assert.equal(
        await pool.withModule((module) => module.services.verifyRecordMac('other-label', bytes, mac)),
        false,
      );
      const foreign = await openTestPool();
      try {
        assert.equal(
          await foreign.withModule((module) =>
            module.services.verifyRecordMac(AUDIT_ANCHOR_LABEL, bytes, mac),
          ),
          false,
        );
      } finally {
        await foreign.close();
      }
    });

    it('verifies across pages of anchors: more than a thousand, one event each; a record changed deep in the log still shows', async () => {
      await clear();
      const anchorMacsOfPool = macs();
      await store.db.transaction().execute(async (trx) => {
        let previous = null;
        for (let index = 0; index < 1_010; index += 1) {
          await appendAuditEvents(trx, [event('test.event', { index })], { chain: 'SW-AAAAAAAAAA' });
          const heads = await trx.selectFrom('audit_heads').selectAll().execute();
          previous = await writeAnchor(trx, anchorMacsOfPool, previous, heads);
        }
      });
      const intact = await verify();
      assert.equal(intact.isIntact, true, JSON.stringify(intact.problems));
      assert.deepEqual([intact.anchors, intact.records, intact.unanchored], [1_010, 1_010, 0]);
      await rewriteChain(store.db, 'SW-AAAAAAAAAA', 1_005, (details) => ({ ...details, index: -1 }));
      const tampered = await verify();
      assert.equal(tampered.firstProblem?.reason, 'anchor-head');
      assert.deepEqual(
        [tampered.firstProblem.sequence, tampered.firstProblem.through, tampered.firstProblem.anchor],
        [1_005, 1_005, 1_005],
      );
      assert.equal(tampered.problemCount, 1, JSON.stringify(tampered.problems));
    });

    it('tamper drill: an amount changed and the SHA-256 chain recomputed is flagged by the anchor MAC and by the module log', async () => {
      await clear();
      const custody = createCustodyService({ db: store.db, pool });
      const meterId = '042N51000077';
      await custody.createMeterPackage({
        meterId,
        maxDescendingRegister: mills(500_000),
        licensingZip: '10001',
      });
      await custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(100_000) } }]);
      const job = anchorJob();
      assert.equal((await job.runOnce()).kind, 'anchored');
      await custody.execute(meterId, [{ operation: { type: 'debit', amount: mills(730) } }]);
      await custody.execute(meterId, [{ operation: { type: 'debit', amount: mills(480) } }]);
      assert.equal((await job.runOnce()).kind, 'anchored');
      await custody.execute(meterId, [{ operation: { type: 'debit', amount: mills(50) } }]);
      const intact = await verify({ withCrossCheck: true });
      assert.equal(intact.isIntact, true, JSON.stringify(intact.problems));
      assert.ok(intact.crossChecked >= 5);

      const debit = await store.db
        .selectFrom('audit_events')
        .select(['chain', 'sequence'])
        .where('kind', '=', 'psd.debit')
        .where('details', 'like', '%"amountMills":730%')
        .executeTakeFirstOrThrow();
      await rewriteChain(store.db, debit.chain, debit.sequence, (details) => ({
        ...details,
        amountMills: 7_300,
      }));
      // The SHA-256 check alone, which anyone with the database can recompute, is satisfied.
      assert.equal((await verifyAuditChain(store.db)).isIntact, true);

      const byMac = await verify();
      assert.equal(byMac.isIntact, false);
      const mismatch = byMac.problems.find((problem) => problem.reason === 'anchor-head');
      assert.ok(mismatch, JSON.stringify(byMac.problems));
      assert.equal(mismatch.chain, debit.chain);
      assert.equal(mismatch.anchor, 2);
      assert.ok((mismatch.sequence ?? 0) <= debit.sequence && debit.sequence <= (mismatch.through ?? 0));
      assert.deepEqual(byMac.firstProblem, mismatch);

      const crossChecked = await verify({ withCrossCheck: true });
      const named = crossChecked.problems.find((problem) => problem.reason === 'cross-check');
      assert.ok(named, JSON.stringify(crossChecked.problems));
      assert.equal(named.sequence, debit.sequence);
      assert.match(named.message, /amountMills is 730 in the module log, 7300 in the event/);

      // Without the module key the anchors cannot be re-made: another key's anchors fail their MAC.
      const foreign = await openTestPool();
      try {
        await store.db.deleteFrom('audit_anchors').execute();
        const heads = await store.db.selectFrom('audit_heads').selectAll().execute();
        await writeAnchor(
          store.db,
          anchorMacs((work) => foreign.withModule(work)),
          null,
          heads,
        );
        const forged = await verify();
        assert.equal(forged.firstProblem?.reason, 'anchor-mac');
        assert.equal(forged.firstProblem.anchor, 1);
      } finally {
        await foreign.close();
      }
    });

    it('verified as written: the anchor writer stops on a segment that does not verify, and on an anchor taken away', async () => {
      await clear();
      await append(store, 'SW-AAAAAAAAAA', 3);
      const metrics = createMetrics();
      const { logger, lines } = capturingLogger();
      const job = anchorJob(logger, metrics);
      assert.equal((await job.runOnce()).kind, 'anchored');
      await append(store, 'SW-AAAAAAAAAA', 2);
      await rewriteChain(store.db, 'SW-AAAAAAAAAA', 2, (details) => ({ ...details, index: 99 }));
      const stopped = await job.runOnce();
      assert.equal(stopped.kind, 'stopped');
      assert.match(job.stoppedReason ?? '', /chain SW-AAAAAAAAAA, record 3/);
      assert.equal((await job.runOnce()).kind, 'stopped');
      assert.equal(
        await store.db
          .selectFrom('audit_anchors')
          .select('sequence')
          .execute()
          .then((rows) => rows.length),
        1,
      );
      const alarm = await store.db
        .selectFrom('audit_events')
        .selectAll()
        .where('kind', '=', 'audit.alarm')
        .executeTakeFirstOrThrow();
      assert.equal(alarm.chain, 'installation');
      assert.match(alarm.details, /SW-AAAAAAAAAA/);
      assert.match(await metrics.registry.metrics(), /indicia_audit_anchoring_stopped\{[^}]*\} 1/);
      assert.ok(lines().some((line) => line['msg'] === 'audit log does not verify: anchoring stopped'));

      await clear();
      await append(store, undefined, 1);
      const second = anchorJob();
      assert.equal((await second.runOnce()).kind, 'anchored');
      await store.db.deleteFrom('audit_anchors').execute();
      await append(store, undefined, 1);
      assert.equal((await second.runOnce()).kind, 'stopped');
      assert.match(second.stoppedReason ?? '', /anchor 1, which this server verified or wrote, is gone/);

      // After a restart too: the writer remembers its newest anchor in a file outside the database.
      await clear();
      const memoryFile = join(mkdtempSync(join(tmpdir(), 'indicia-anchor-memory-')), 'audit-anchor.json');
      const remembering = () =>
        startAuditAnchorJob({
          db: store.db,
          macs: macs(),
          logger: capturingLogger().logger,
          metrics: createMetrics(),
          intervalSeconds: 0,
          memoryFile,
        });
      await append(store, 'SW-AAAAAAAAAA', 2);
      assert.equal((await remembering().runOnce()).kind, 'anchored');
      await append(store, 'SW-AAAAAAAAAA', 2);
      assert.equal((await remembering().runOnce()).kind, 'anchored');
      // An insider deletes every anchor and rewrites the chain; the next start would anchor it afresh.
      await store.db.deleteFrom('audit_anchors').execute();
      await rewriteChain(store.db, 'SW-AAAAAAAAAA', 1, (details) => ({ ...details, index: 42 }));
      const restarted = remembering();
      assert.equal((await restarted.runOnce()).kind, 'stopped');
      assert.match(restarted.stoppedReason ?? '', /anchor 2, which this server verified or wrote, is gone/);
    });
  });
}
