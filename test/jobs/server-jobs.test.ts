import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from '../../src/cli/index.ts';
import { listJobRuns } from '../../src/jobs/index.ts';
import { databaseTargetFor } from '../../src/installation/index.ts';
import { openStore } from '../../src/store/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { startTestServer } from '../support/start-server.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

for (const fixture of dialectFixtures) {
  describe(`the server's timed jobs on ${fixture.name}`, () => {
    it('run through the job runner under its lease: each run recorded with this server as holder, metrics exported, leases let go at stop', async () => {
      const server = await startTestServer(fixture, {
        INDICIA_LOG_SHIP_INTERVAL: '1',
        INDICIA_AUDIT_ANCHOR_INTERVAL: '1',
        INDICIA_AUDIT_VERIFY_INTERVAL: '1',
      });
      const { indicia } = server;
      try {
        await indicia.reconciliation.runOnce();
        const jobs = ['log-shipping', 'audit-anchoring', 'audit-verification'];
        for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
          const runs = await listJobRuns(indicia.store.db, { limit: 1_000 });
          if (jobs.every((job) => runs.some((run) => run.job === job && run.outcome === 'succeeded'))) break;
          await sleep(100);
        }
        const runs = await listJobRuns(indicia.store.db, { limit: 1_000 });
        for (const job of jobs) {
          const ofJob = runs.filter((run) => run.job === job && run.trigger === 'timer');
          assert.ok(ofJob.length > 0, `no timed run of ${job}: ${JSON.stringify(runs)}`);
          assert.ok(ofJob.every((run) => run.holder === indicia.jobHolder && run.period !== null));
        }
        const manual = runs.filter((run) => run.job === 'reconciliation');
        const [reconciled] = manual;
        assert.equal(manual.length, 1);
        assert.ok(reconciled !== undefined);
        assert.equal(reconciled.trigger, 'manual');
        assert.deepEqual(reconciled.details, { meters: 1, unbalanced: 0 });
        const exported = await (await fetch(`${indicia.url}/metrics`)).text();
        assert.match(
          exported,
          /indicia_job_runs_total\{[^}]*job="log-shipping"[^}]*outcome="succeeded"[^}]*\} [1-9]/,
        );
        assert.match(exported, /indicia_job_last_success_timestamp_seconds\{[^}]*job="audit-anchoring"/);
      } finally {
        await indicia.close();
      }
      const store = await openStore(databaseTargetFor(indicia.config));
      try {
        const afterStop = await listJobRuns(store.db, { limit: 1_000 });
        for (const job of ['log-shipping', 'audit-anchoring'])
          assert.ok(
            afterStop.some(
              (run) => run.job === job && run.trigger === 'shutdown' && run.outcome === 'succeeded',
            ),
            `no last run of ${job} at shutdown`,
          );
        assert.ok(afterStop.every((run) => run.outcome !== 'running'));
        const held = await store.db
          .selectFrom('job_leases')
          .selectAll()
          .where('holder', 'is not', null)
          .execute();
        assert.deepEqual(held, []);
        // What an operator reads: `indicia jobs` beside the farm.
        let printed = '';
        const { config } = indicia;
        const status = await runCli(
          ['jobs', '--job', 'log-shipping', '--limit', '5', '--data-dir', config.dataDir],
          {
            env: config.databaseUrl === undefined ? {} : { INDICIA_DATABASE_URL: config.databaseUrl },
            cwd: config.dataDir,
            write: (text) => (printed += text),
          },
        );
        assert.equal(status, 0, printed);
        assert.match(printed, /log-shipping +\(free\)/);
        assert.ok(printed.includes(`(shutdown)`) && printed.includes(indicia.jobHolder), printed);
        assert.match(printed, / succeeded\n/);
      } finally {
        await store.close();
        await server.stop();
      }
    });
  });
}
