import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDemoAccountsIfEmpty } from '../../src/accounts/index.ts';
import { anchorMacs, appendAuditEvents, verifyAuditLog } from '../../src/audit/index.ts';
import {
  type JobCoordinator,
  type JobRunRecord,
  jobCoordinator,
  listJobRuns,
  startAuditAnchorJob,
  startAuditVerificationJob,
  startJobRunner,
  startWebhookDeliveryJob,
} from '../../src/jobs/index.ts';
import { EVENT_ID_HEADER, WEBHOOK_EVENTS, createWebhooksService } from '../../src/webhooks/index.ts';
import { type Store, migrateToLatest, openStore } from '../../src/store/index.ts';
import { createMetrics } from '../../src/telemetry/index.ts';
import type { ModulePool } from '../../src/vault/index.ts';
import { capturingLogger, openTestPool } from '../audit/audit-support.ts';
import { type FreshDatabase, dialectFixtures } from '../support/dialects.ts';

const postgres = dialectFixtures.find((fixture) => fixture.name === 'postgres');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const HOLDERS = ['server-a', 'server-b', 'server-c'] as const;

/** The runs of a job, oldest first. */
async function runsOf(store: Store, job: string): Promise<JobRunRecord[]> {
  return (await listJobRuns(store.db, { job, limit: 10_000 })).reverse();
}

/** No two runs of a job were in progress at once, on any holder (a run still going counts up to now). */
function assertNoOverlap(runs: readonly JobRunRecord[]): void {
  const spans = runs
    .map((run) => ({
      run,
      start: Date.parse(run.startedAt),
      end: Date.parse(run.finishedAt ?? new Date().toISOString()),
    }))
    .sort((left, right) => left.start - right.start);
  for (let index = 1; index < spans.length; index += 1) {
    const before = spans[index - 1];
    const current = spans[index];
    assert.ok(before !== undefined && current !== undefined);
    assert.ok(
      current.start >= before.end,
      `run by ${current.run.holder} at ${current.run.startedAt} began before the run by ${before.run.holder} at ${before.run.startedAt} ended (${before.run.finishedAt ?? 'running'})`,
    );
  }
}

/** Every period between the first and the last timed run ran exactly once. */
function assertOncePerPeriod(runs: readonly JobRunRecord[], periodMs: number): void {
  const periods = runs.flatMap((run) => (run.period === null ? [] : [Date.parse(run.period)]));
  assert.equal(new Set(periods).size, periods.length, 'a period ran twice');
  const first = Math.min(...periods);
  const last = Math.max(...periods);
  assert.equal(
    periods.length,
    (last - first) / periodMs + 1,
    `a period between the first and last was missed: ${periods.length} runs`,
  );
}

describe('timed jobs on a farm: three holders on one PostgreSQL database', () => {
  let fresh: FreshDatabase;
  let stores: Store[] = [];
  before(async () => {
    assert.ok(postgres !== undefined, 'the PostgreSQL fixture is missing');
    fresh = await postgres.freshDatabase();
    const target = fresh.target;
    stores = await Promise.all(HOLDERS.map(() => openStore(target)));
    const [first] = stores;
    assert.ok(first !== undefined);
    await migrateToLatest(first.db, first.location);
  });
  after(async () => {
    for (const store of stores) await store.close();
    stores = [];
    await fresh.dispose();
  });
  const coordinators = (leaseMs: number): JobCoordinator[] =>
    stores.map((store, index) =>
      jobCoordinator({ db: store.db, holder: HOLDERS[index] ?? 'server', leaseMs }),
    );

  it('runs each period once, on one of the three, never two at once; a run too long skips the periods it covers', async () => {
    const periodMs = 600;
    let active = 0;
    let mostActive = 0;
    const worked: string[] = [];
    const metrics = HOLDERS.map(() => createMetrics());
    const runners = coordinators(2_000).map((coordinator, index) =>
      startJobRunner({
        name: 'tick',
        schedule: { everyMs: periodMs },
        work: async () => {
          active += 1;
          mostActive = Math.max(mostActive, active);
          worked.push(coordinator.holder);
          await sleep(30);
          active -= 1;
          return coordinator.holder;
        },
        describe: (holder) => ({ holder }),
        failureMessage: 'tick failed',
        logger: capturingLogger().logger,
        metrics: metrics[index] ?? createMetrics(),
        coordinator,
      }),
    );
    await sleep(periodMs * 8);
    await Promise.all(runners.map((runner) => runner.stop()));
    const runs = await runsOf(stores[0] as Store, 'tick');
    assert.ok(runs.length >= 5, `only ${runs.length} runs in eight periods`);
    assert.equal(mostActive, 1, 'two holders ran the job at once');
    assert.equal(worked.length, runs.length, 'the work ran once per recorded run');
    assert.ok(runs.every((run) => run.outcome === 'succeeded' && run.trigger === 'timer'));
    assertOncePerPeriod(runs, periodMs);
    assertNoOverlap(runs);
    const exported = (await Promise.all(metrics.map((each) => each.registry.metrics()))).join('\n');
    assert.match(exported, /indicia_job_periods_skipped_total\{[^}]*reason="elsewhere"[^}]*\} [1-9]/);
    assert.match(exported, /indicia_job_runs_total\{[^}]*outcome="succeeded"[^}]*\} [1-9]/);

    // A run of 700 ms every 300 ms: the periods it covers are skipped on every holder, not run beside it.
    let slowActive = 0;
    let slowMostActive = 0;
    const slow = coordinators(2_000).map((coordinator) =>
      startJobRunner({
        name: 'slow',
        schedule: { everyMs: 300 },
        work: async () => {
          slowActive += 1;
          slowMostActive = Math.max(slowMostActive, slowActive);
          await sleep(700);
          slowActive -= 1;
        },
        failureMessage: 'slow failed',
        logger: capturingLogger().logger,
        metrics: createMetrics(),
        coordinator,
      }),
    );
    await sleep(2_500);
    await Promise.all(slow.map((runner) => runner.stop()));
    const slowRuns = await runsOf(stores[0] as Store, 'slow');
    assert.ok(slowRuns.length >= 2 && slowRuns.length <= 4, `${slowRuns.length} runs of 700 ms in 2.5 s`);
    assert.equal(slowMostActive, 1);
    assertNoOverlap(slowRuns);
  });

  it('a holder killed mid-run (SIGKILL: no clean stop) loses the job to another within lease + period; its run is marked abandoned', async (context) => {
    const leaseMs = 1_500;
    const periodMs = 500;
    const child = join(import.meta.dirname, '..', 'support', 'job-holder-child.ts');
    const url = fresh.target.dialect === 'postgres' ? fresh.target.url : '';
    const children = new Map<string, ChildProcess>();
    try {
      for (const holder of HOLDERS) {
        const spawned = spawn(
          process.execPath,
          [child, url, holder, String(leaseMs), String(periodMs), '250'],
          {
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        children.set(holder, spawned);
        await new Promise<void>((resolve, reject) => {
          spawned.stdout.on('data', (chunk: Buffer) => {
            if (chunk.toString().includes('READY')) resolve();
          });
          spawned.on('exit', (code) => reject(new Error(`job holder ${holder} exited with ${code}`)));
        });
      }
      // Wait for a run in progress, and kill its holder in the middle of it.
      let victim: JobRunRecord | undefined;
      for (const deadline = Date.now() + 15_000; victim === undefined && Date.now() < deadline;) {
        victim = (await runsOf(stores[0] as Store, 'farm-tick')).find((run) => run.outcome === 'running');
        if (victim === undefined) await sleep(20);
      }
      assert.ok(victim !== undefined, 'no run of farm-tick started within 15 s');
      children.get(victim.holder)?.kill('SIGKILL');
      const killedAt = Date.now();
      let successor: JobRunRecord | undefined;
      for (const deadline = killedAt + 10_000; successor === undefined && Date.now() < deadline;) {
        successor = (await runsOf(stores[0] as Store, 'farm-tick')).find(
          (run) =>
            run.holder !== victim.holder &&
            Date.parse(run.startedAt) > Date.parse(victim.startedAt) &&
            run.outcome === 'succeeded',
        );
        if (successor === undefined) await sleep(50);
      }
      assert.ok(successor !== undefined, 'no other holder ran farm-tick within 10 s of the kill');
      const movedAfterMs = Date.parse(successor.startedAt) - killedAt;
      context.diagnostic(
        `moved to ${successor.holder} ${movedAfterMs} ms after the kill (lease ${leaseMs} ms, period ${periodMs} ms)`,
      );
      assert.ok(
        movedAfterMs <= leaseMs + periodMs + 1_000,
        `the job moved ${movedAfterMs} ms after the kill; bound: lease ${leaseMs} + period ${periodMs} ms`,
      );
      await sleep(periodMs * 2);
      const runs = await runsOf(stores[0] as Store, 'farm-tick');
      const killedRun = runs.find(
        (run) => run.startedAt === victim.startedAt && run.holder === victim.holder,
      );
      assert.equal(killedRun?.outcome, 'abandoned');
      assert.ok(runs.filter((run) => run.holder === victim.holder && run.outcome === 'running').length === 0);
      assert.ok(
        runs.every(
          (run) => run.holder !== victim.holder || Date.parse(run.startedAt) <= Date.parse(victim.startedAt),
        ),
        'the killed holder ran again',
      );
      assertNoOverlap(runs.filter((run) => run.outcome !== 'running'));
      const periods = runs.flatMap((run) => (run.period === null ? [] : [run.period]));
      assert.equal(new Set(periods).size, periods.length, 'a period ran twice');
    } finally {
      for (const spawned of children.values())
        if (spawned.exitCode === null && spawned.signalCode === null) spawned.kill('SIGKILL');
      await Promise.all(
        [...children.values()].map(
          (spawned) =>
            new Promise<void>((resolve) => {
              if (spawned.exitCode !== null || spawned.signalCode !== null) resolve();
              else spawned.on('exit', () => resolve());
            }),
        ),
      );
    }
  });

  it('the real audit jobs, three servers each: one anchor and one verification per period, the chains intact', async () => {
    const pool: ModulePool = await openTestPool();
    const macs = anchorMacs((work) => pool.withModule(work));
    const jobs = coordinators(3_000).flatMap((coordinator, index) => {
      const store = stores[index] as Store;
      const { logger } = capturingLogger();
      const metrics = createMetrics();
      return [
        startAuditAnchorJob({ db: store.db, macs, logger, metrics, intervalSeconds: 1, coordinator }),
        startAuditVerificationJob({
          db: store.db,
          verifyMac: macs.verify,
          logger,
          metrics,
          intervalSeconds: 1,
          coordinator,
        }),
      ];
    });
    try {
      // Events keep coming from every server meanwhile, so each period has something to anchor.
      for (let round = 0; round < 20; round += 1) {
        const store = stores[round % stores.length] as Store;
        await store.db
          .transaction()
          .execute((trx) => appendAuditEvents(trx, [{ kind: 'test.event', details: { round } }]));
        await sleep(200);
      }
    } finally {
      await Promise.all(jobs.map((job) => job.stop()));
    }
    const first = stores[0] as Store;
    const anchoring = await runsOf(first, 'audit-anchoring');
    const verification = await runsOf(first, 'audit-verification');
    for (const runs of [anchoring, verification]) {
      assert.ok(runs.length >= 3, `${runs.length} runs in 4 s`);
      assert.ok(
        runs.every((run) => run.outcome === 'succeeded'),
        JSON.stringify(runs),
      );
      assertNoOverlap(runs);
      assertOncePerPeriod(
        runs.filter((run) => run.trigger === 'timer'),
        1_000,
      );
    }
    const anchored = anchoring.filter((run) => (run.details as { kind?: string }).kind === 'anchored');
    assert.ok(
      !anchoring.some((run) => (run.details as { kind?: string }).kind === 'raced'),
      'two servers anchored at once',
    );
    const anchors = await first.db
      .selectFrom('audit_anchors')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    assert.equal(anchors.count, anchored.length);
    const verifiedEvents = await first.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('kind', '=', 'audit.verified')
      .executeTakeFirstOrThrow();
    assert.equal(verifiedEvents.count, verification.length);
    const report = await verifyAuditLog(first.db, { verifyMac: macs.verify });
    assert.equal(report.isIntact, true, JSON.stringify(report.problems));
    await pool.close();
  });

  it('webhook delivery is no singleton: three servers share the outbox, and each delivery is sent once', async () => {
    const received = new Map<string, number>();
    const sink = createServer((request, response) => {
      const id = String(request.headers[EVENT_ID_HEADER.toLowerCase()]);
      received.set(id, (received.get(id) ?? 0) + 1);
      request.resume();
      // A slow receiver: passes overlap, and every server finds deliveries due.
      setTimeout(() => response.writeHead(204).end(), 20);
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const first = stores[0] as Store;
    const [demo] = await createDemoAccountsIfEmpty(first.db);
    assert.ok(demo !== undefined);
    const secretOf = () => Promise.resolve(Buffer.alloc(32, 7));
    const { webhook } = await createWebhooksService(first.db, secretOf).subscribe(demo.accountId, {
      url: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/hook`,
      events: [WEBHOOK_EVENTS[0] as string],
    });
    const count = 200;
    const now = new Date().toISOString();
    await first.db
      .insertInto('webhook_deliveries')
      .values(
        Array.from({ length: count }, () => ({
          id: randomUUID(),
          subscription_id: webhook.id,
          event: WEBHOOK_EVENTS[0] as (typeof WEBHOOK_EVENTS)[number],
          payload: '{}',
          status: 'pending' as const,
          attempts: 0,
          next_attempt_at: now,
          last_status_code: null,
          last_error: null,
          created_at: now,
          delivered_at: null,
        })),
      )
      .execute();
    const attempted = [0, 0, 0];
    const jobs = stores.map((store) =>
      startWebhookDeliveryJob({
        db: store.db,
        webhooks: createWebhooksService(store.db, secretOf),
        logger: capturingLogger().logger,
        metrics: createMetrics(),
        allowPrivateTargets: true,
        dialect: 'postgres',
        intervalMs: 60_000, // only the passes below
      }),
    );
    try {
      const passes = stores.map(async (_, index) => {
        for (const deadline = Date.now() + 20_000; Date.now() < deadline;) {
          const job = jobs[index];
          assert.ok(job !== undefined);
          const sent = await job.runOnce();
          attempted[index] = (attempted[index] ?? 0) + sent;
          if (sent === 0 && received.size >= count) return;
          if (sent === 0) await sleep(10);
        }
      });
      await Promise.all(passes);
    } finally {
      await Promise.all(jobs.map((job) => job.stop()));
      sink.close();
    }
    assert.equal(received.size, count, 'every delivery arrived');
    assert.ok(
      [...received.values()].every((times) => times === 1),
      'a delivery was sent twice',
    );
    assert.equal(
      attempted.reduce((sum, each) => sum + each, 0),
      count,
    );
    assert.ok(
      attempted.filter((each) => each > 0).length >= 2,
      `one server did all the work: ${attempted.join(', ')}`,
    );
    const delivered = await first.db
      .selectFrom('webhook_deliveries')
      .select('status')
      .where('subscription_id', '=', webhook.id)
      .execute();
    assert.ok(delivered.every((row) => row.status === 'delivered'));
  });
});
