// One server's job runner for the farm jobs test, in a process of its own so the test can kill
// it (SIGKILL: no clean stop, its lease left to expire). Runs the job `farm-tick` every
// `periodMs`, each run taking `workMs`, under a lease of `leaseMs`; prints READY when started.
import { createLogger, createMetrics } from '../../src/telemetry/index.ts';
import { jobCoordinator, startJobRunner } from '../../src/jobs/index.ts';
import { openStore } from '../../src/store/index.ts';

const [url = '', holder = '', leaseMs = '1000', periodMs = '500', workMs = '200'] = process.argv.slice(2);
const store = await openStore({ dialect: 'postgres', url });
const runner = startJobRunner({
  name: 'farm-tick',
  schedule: { everyMs: Number(periodMs) },
  work: () =>
    new Promise<{ holder: string }>((resolve) => setTimeout(() => resolve({ holder }), Number(workMs))),
  describe: (result) => result,
  failureMessage: 'farm-tick failed',
  logger: createLogger({ level: 'error', destination: process.stderr }),
  metrics: createMetrics(),
  coordinator: jobCoordinator({ db: store.db, holder, leaseMs: Number(leaseMs) }),
});
process.on('SIGTERM', () => {
  void runner
    .stop()
    .then(() => store.close())
    .then(() => process.exit(0));
});
// Keeps the process alive: the runner's timers are unref'd.
setInterval(() => undefined, 60_000);
process.stdout.write('READY\n');
