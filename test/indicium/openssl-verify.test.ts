import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  EXAMPLE_INDICIUM_FIELDS,
  INDICIUM_V1_LAYOUT,
  type IndiciumAlgorithm,
  assembleIndicium,
  encodeSignedData,
} from '../../src/indicium/index.ts';
import { installDebianPackages, runCommand } from '../support/system-packages.ts';

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'indicium-format.md'), 'utf8');

function between(start: string, end: string): string {
  const from = doc.indexOf(start);
  const to = doc.indexOf(end);
  assert.ok(from >= 0 && to > from, `docs/indicium-format.md lacks ${start}`);
  return doc.slice(from + start.length, to);
}

function shellBlock(name: string): string {
  const match = new RegExp('```sh ' + name + '\\n([\\s\\S]*?)```').exec(doc);
  assert.ok(match?.[1], `docs/indicium-format.md lacks the ${name} block`);
  return match[1];
}

/** Signs an indicium like a meter would and runs the documented openssl block against it. */
function verifyWithOpenssl(
  algorithm: IndiciumAlgorithm,
  tamper: boolean,
): { status: number; output: string } {
  if (runCommand('openssl', ['version']).status !== 0)
    installDebianPackages(['openssl'], 'indicium verification needs openssl');
  const pair =
    algorithm === 'ecdsa-p256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('ed25519');
  const signed = encodeSignedData({ ...EXAMPLE_INDICIUM_FIELDS, algorithm });
  const signature =
    algorithm === 'ecdsa-p256'
      ? sign('sha256', signed, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' })
      : sign(null, signed, pair.privateKey);
  const indicium = assembleIndicium(signed, signature);
  if (tamper) indicium[24] = (indicium[24] ?? 0) ^ 0x01;
  const folder = mkdtempSync(join(tmpdir(), 'indicia-openssl-'));
  writeFileSync(join(folder, 'indicium.bin'), indicium);
  writeFileSync(join(folder, 'meter.pub'), pair.publicKey.export({ format: 'pem', type: 'spki' }));
  const script = shellBlock(algorithm === 'ecdsa-p256' ? 'verify-ecdsa' : 'verify-ed25519');
  const result = spawnSync('bash', ['-e', '-c', script], { cwd: folder, encoding: 'utf8' });
  return { status: result.status ?? 1, output: `${result.stdout}${result.stderr}` };
}

describe('docs/indicium-format.md', () => {
  it('has the same byte table as the code', () => {
    const rows = between('<!-- layout:start -->', '<!-- layout:end -->')
      .split('\n')
      .map((line) => line.split('|').map((cell) => cell.trim()))
      .filter((cells) => /^\d+$/.test(cells[1] ?? ''));
    assert.deepEqual(
      rows.map((cells) => ({
        offset: Number(cells[1]),
        length: Number(cells[2]),
        name: cells[3],
        encoding: cells[4],
        meaning: cells[5],
      })),
      INDICIUM_V1_LAYOUT.map((field) => ({ ...field })),
    );
  });

  it('shows the example bytes the encoder produces', () => {
    const example = between('<!-- example:start -->', '<!-- example:end -->');
    const encoded = encodeSignedData(EXAMPLE_INDICIUM_FIELDS);
    const lines = example.split('\n').filter((line) => /^\d+ {2,}[0-9a-f]{2}( [0-9a-f]{2})*\s/.test(line));
    assert.equal(lines.length, INDICIUM_V1_LAYOUT.length - 1);
    for (const line of lines) {
      const [offsetText = '', ...rest] = line.trim().split(/\s+/);
      const offset = Number(offsetText);
      const hex = rest.filter((token) => /^[0-9a-f]{2}$/.test(token)).join('');
      assert.equal(
        encoded.subarray(offset, offset + hex.length / 2).toString('hex'),
        hex,
        `bytes at offset ${offset}`,
      );
    }
  });

  for (const algorithm of ['ecdsa-p256', 'ed25519'] as const) {
    it(`verifies a genuine ${algorithm} indicium with nothing but openssl, and rejects a changed one`, () => {
      const genuine = verifyWithOpenssl(algorithm, false);
      assert.equal(genuine.status, 0, genuine.output);
      assert.match(genuine.output, /Verified OK|Signature Verified Successfully/);
      const changed = verifyWithOpenssl(algorithm, true);
      assert.notEqual(changed.status, 0, changed.output);
      assert.doesNotMatch(changed.output, /Verified OK|Signature Verified Successfully/);
    });
  }
});
