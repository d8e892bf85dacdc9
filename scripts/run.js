// Entry for the npm scripts (test, bench, typecheck, lint, format): bootstraps Node.js 24 and the
// dependencies, then hands over to the TypeScript task runner.
import { bootstrap } from '../bin/bootstrap.js';

await bootstrap();
const { runTask } = await import('./tasks.ts');
process.exitCode = await runTask(process.argv[2] ?? 'test', process.argv.slice(3));
