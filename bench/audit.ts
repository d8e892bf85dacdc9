// `npm run bench -- audit [--seconds 3] [--writers 16] [--postgres URL]`: what the audit log's shape
// costs and buys. (1) appends/s of single-event transactions from many writers, all into one chain
// (the old shape: one head row every writer locks) and each writer into a chain of its own; on
// PostgreSQL the second runs side by side, on SQLite (one writer) both queue alike. (2) the anchor
// writer's cost for what was appended: verifying the segment since the last anchor and one MAC in a
// software module. (3) verification speed of `verifyAuditLog` from genesis, in records/s.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { anchorMacs, appendAuditEvents, verifyAuditLog } from '../src/audit/index.ts';
import { startAuditAnchorJob } from '../src/jobs/index.ts';
import { type DatabaseTarget, type Store, migrateToLatest, openStore } from '../src/store/index.ts';
import { createLogger, createMetrics } from '../src/telemetry/index.ts';
import { openCryptoModules } from '../src/vault/index.ts';

/** Appends single-event transactions from `writers` writers for `seconds`; returns appends/s. */
export async function measureAppends(
  store: Store,
  writers: number,
  seconds: number,
  chainOf: (writer: number) => string,
): Promise<number> {
  const until = Date.now() + seconds * 1000;
  let appended = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      while (Date.now() < until) {
        await store.db.transaction().execute((trx) =>
          appendAuditEvents(trx, [{ kind: 'bench.event', details: { writer, amountMills: 1_000 } }], {
            chain: chainOf(writer),
          }),
        );
        appended += 1;
      }
    }),
  );
  return appended / seconds;
}

export async function runBenchmark(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      seconds: { type: 'string', default: '3' },
      writers: { type: 'string', default: '16' },
      postgres: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds);
  const writers = Number(values.writers);
  const folder = mkdtempSync(join(tmpdir(), 'indicia-bench-audit-'));
  const target: DatabaseTarget =
    values.postgres === undefined
      ? { dialect: 'sqlite', file: join(folder, 'indicia.sqlite') }
      : { dialect: 'postgres', url: values.postgres };
  const store = await openStore(target);
  const { pool } = await openCryptoModules(
    { backend: 'software', vaultDir: join(folder, 'vault'), kek: randomBytes(32) },
    { modules: 1, ringSize: 3, inhibitThreshold: 1 },
  );
  try {
    await migrateToLatest(store.db, store.location);
    for (const table of ['audit_anchors', 'audit_events', 'audit_heads'] as const)
      await store.db.deleteFrom(table).execute();
    console.log(`measuring ${writers} writers into one chain (${seconds} s)...`);
    const oneChain = await measureAppends(store, writers, seconds, () => 'installation');
    console.log(`measuring ${writers} writers into a chain each (${seconds} s)...`);
    const ownChains = await measureAppends(store, writers, seconds, (writer) => `SW-BENCH${writer}`);
    const events = Number(
      (
        await store.db
          .selectFrom('audit_events')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
    const job = startAuditAnchorJob({
      db: store.db,
      macs: anchorMacs((work) => pool.withModule(work)),
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics(),
      intervalSeconds: 0,
    });
    const anchorStart = performance.now();
    const anchored = await job.runOnce();
    const anchorMs = performance.now() - anchorStart;
    const verifyStart = performance.now();
    const report = await verifyAuditLog(store.db, {
      verifyMac: anchorMacs((work) => pool.withModule(work)).verify,
    });
    const verifySeconds = (performance.now() - verifyStart) / 1000;
    console.log('');
    console.log(`audit log: ${store.dialect}, ${writers} writers, ${seconds} s per row, 1 software module`);
    console.log(`  machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node.js ${process.version}`);
    console.log(
      `  appends/s, one chain (one head row for all):  ${Math.round(oneChain).toLocaleString('en-US')}`,
    );
    console.log(
      `  appends/s, a chain per writer:                ${Math.round(ownChains).toLocaleString('en-US')}  (${(ownChains / oneChain).toFixed(2)}×)`,
    );
    console.log(
      `  first anchor over ${events.toLocaleString('en-US')} events in ${writers + 1} chains (segment verified, 1 MAC): ${anchorMs.toFixed(0)} ms (${anchored.kind})`,
    );
    console.log(
      `  verifyAuditLog from genesis: ${report.records.toLocaleString('en-US')} records in ${verifySeconds.toFixed(2)} s = ${Math.round(report.records / verifySeconds).toLocaleString('en-US')} records/s (${report.isIntact ? 'intact' : 'NOT INTACT'})`,
    );
    return report.isIntact ? 0 : 1;
  } finally {
    await pool.close();
    await store.close();
    rmSync(folder, { recursive: true, force: true });
  }
}
