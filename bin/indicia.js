#!/usr/bin/env node
// The `indicia` command. Runs on any Node.js; moves itself onto Node.js 24 first (see bootstrap.js).
import { bootstrap } from './bootstrap.js';

await bootstrap();
const { runCli } = await import('../src/cli/index.ts');
process.exitCode = await runCli(process.argv.slice(2));
