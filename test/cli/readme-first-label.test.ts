import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeBarcodes } from '../support/zxing.ts';
import { projectRoot, serveIndicia } from '../support/cli-process.ts';

const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');

/** The README section that starts at this heading, up to the next heading of the same level. */
function section(heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has "${heading}"`);
  const level = /^#+/.exec(heading)?.[0] ?? '##';
  const next = readme.slice(start + heading.length + 2).search(new RegExp(`^${level} `, 'm'));
  return next < 0 ? readme.slice(start) : readme.slice(start, start + heading.length + 2 + next);
}

function codeBlock(text: string, language: string): string {
  const block = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``).exec(text)?.[1];
  assert.ok(block !== undefined, `a ${language} block`);
  return block;
}

/**
 * What a newcomer does after `npm start`, run line for line from README's "Your first label":
 * paste the `export` line the server printed, run the sh block (`npx indicia` is this clone's
 * bin/indicia.js, which is what npx runs in a clone), then the SDK script, compiled as `npm run
 * build` compiles it and imported as an installed package would be.
 */
describe('README: your first label', () => {
  it('starts with exactly two commands, npm start and npm test', () => {
    const quickStart = section('## Quick start');
    assert.deepEqual(
      [...quickStart.matchAll(/```\n([^`]*?)```/g)].map((match) => match[1]?.trim()),
      ['npm start', 'npm test'],
    );
    const manifest = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    assert.equal(manifest.scripts['start'], 'node bin/indicia.js serve');
  });

  it('takes the demo customer to a printed, verified label with the CLI and with the SDK', async () => {
    const work = mkdtempSync(join(tmpdir(), 'indicia-readme-'));
    // `npm start` is `node bin/indicia.js serve`; here on a free port and an empty data directory.
    const served = await serveIndicia(['--data-dir', join(work, 'indicia-data'), '--port', '0']);
    try {
      const exportLine = /^ {2}(export INDICIA_URL=\S+ INDICIA_PASSWORD=\S+ INDICIA_FINGERPRINT=\S+)$/m.exec(
        served.output(),
      )?.[1];
      assert.ok(exportLine !== undefined, served.output());
      assert.ok(exportLine.includes(`INDICIA_URL=${served.url} `));

      const firstLabel = section('## Your first label');
      const commands = codeBlock(firstLabel, 'sh');
      assert.equal(commands.trim().split('\n').length, 5, 'five commands');
      const cliDir = join(work, 'cli');
      mkdirSync(cliDir);
      const shell = spawnSync(
        'bash',
        [
          '-c',
          [
            'set -euo pipefail',
            `npx() { [ "$1" = indicia ] || return 127; shift; "${process.execPath}" "${join(projectRoot, 'bin', 'indicia.js')}" "$@"; }`,
            exportLine,
            commands,
          ].join('\n'),
        ],
        { cwd: cliDir, encoding: 'utf8', timeout: 120_000, env: { PATH: process.env['PATH'] ?? '' } },
      );
      assert.equal(shell.status, 0, `${shell.stdout}\n${shell.stderr}`);
      assert.match(shell.stdout, /^Enrolled device dev_/m);
      assert.match(shell.stdout, /^Added \$20\.00 \(sandbox card …4242\); DR now \$20\.00/m);
      assert.match(shell.stdout, /^Printed ind_\S+ \(\$0\.74\)\.$/m);
      assert.match(
        shell.stdout,
        /^first-label\.png: GENUINE {2}meter 421D00000001 {2}\$0\.74 FC {2}mailed \d{4}-\d\d-\d\d from 10118 {2}AR \$0\.74 {2}never scanned$/m,
      );
      assert.match(shell.stdout, /^421D00000001 {2}active {2}AR \$0\.74 {2}DR \$19\.26/m);
      // The label is what a scanner reads: one DataMatrix on the #10 envelope.
      const label = readFileSync(join(cliDir, 'first-label.png'));
      assert.equal((await decodeBarcodes(label, ['DataMatrix'])).length, 1);

      // The SDK: the package's client, compiled by the build's own tsconfig, under node_modules.
      const sdkDir = join(work, 'sdk');
      const installed = join(sdkDir, 'node_modules', 'indicia');
      mkdirSync(installed, { recursive: true });
      writeFileSync(join(installed, 'package.json'), readFileSync(join(projectRoot, 'package.json')));
      writeFileSync(
        join(work, 'tsconfig.client.json'),
        JSON.stringify({
          extends: join(projectRoot, 'tsconfig.build.json'),
          compilerOptions: {
            rootDir: join(projectRoot, 'src'),
            outDir: join(installed, 'dist'),
            typeRoots: [join(projectRoot, 'node_modules', '@types')],
          },
          include: [join(projectRoot, 'src', 'client')],
          exclude: [join(projectRoot, 'src', '**', '*.test.ts')],
        }),
      );
      const compiled = spawnSync(
        process.execPath,
        [
          join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'),
          '-p',
          join(work, 'tsconfig.client.json'),
        ],
        { encoding: 'utf8', timeout: 120_000 },
      );
      assert.equal(compiled.status, 0, compiled.stdout + compiled.stderr);
      writeFileSync(join(sdkDir, 'first-label.mjs'), codeBlock(firstLabel, 'js'));
      const values = Object.fromEntries(
        exportLine
          .replace(/^export /, '')
          .split(' ')
          .map((pair) => pair.split('=') as [string, string]),
      );
      const script = spawnSync(process.execPath, ['first-label.mjs'], {
        cwd: sdkDir,
        encoding: 'utf8',
        timeout: 60_000,
        env: { PATH: process.env['PATH'] ?? '', ...values },
      });
      assert.equal(script.status, 0, script.stdout + script.stderr);
      assert.match(script.stdout, /^ind_\S+: 740 mills, genuine true; label in sdk-label\.pdf$/m);
      assert.equal(readFileSync(join(sdkDir, 'sdk-label.pdf')).subarray(0, 5).toString(), '%PDF-');
    } finally {
      assert.equal(await served.stop(), 0);
    }
  });
});
