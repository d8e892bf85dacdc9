#!/usr/bin/env node
// The `indicia` command. Runs on any Node.js; moves itself onto Node.js 24 first (see bootstrap.js).
import { bootstrap, isInstalledPackage } from './bootstrap.js';

await bootstrap();
// Node runs TypeScript directly, except inside node_modules: an installed package uses dist/.
const entry = isInstalledPackage ? '../dist/cli/index.js' : '../src/cli/index.ts';
const { runCli } = await import(entry);
process.exitCode = await runCli(process.argv.slice(2));
