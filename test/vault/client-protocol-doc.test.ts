import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { signedText as deviceSignedText } from '../../src/client/index.ts';
import { canonicalJson } from '../../src/encoding/index.ts';
import { signedText as moduleSignedText } from '../../src/vault/index.ts';

const doc = readFileSync(new URL('../../docs/client-protocol.md', import.meta.url), 'utf8');

/** The lines of the first code block after `heading`, as the page shows them. */
function blockAfter(heading: string): string[] {
  const start = doc.indexOf(heading);
  assert.ok(start !== -1, `docs/client-protocol.md has no "${heading}"`);
  const match = /```\n([\s\S]*?)\n```/.exec(doc.slice(start));
  assert.ok(match?.[1] !== undefined);
  return match[1].split('\n');
}

describe('the signed text in docs/client-protocol.md', () => {
  const body = { pieces: [{ rateCategory: 'FC', postageMills: 730 }] };
  const challenge = Buffer.alloc(32, 9).toString('base64');
  const digest = createHash('sha256').update(canonicalJson(body)).digest('hex');
  const [ascending, descending] = [2_960, 17_040];

  /** The page's layout with its placeholders filled in. */
  const documented = blockAfter('The signed text (protocol v2)').map((line) =>
    line.startsWith('<hex SHA-256')
      ? digest
      : line.startsWith('<challenge')
        ? challenge
        : line === '<AR>'
          ? String(ascending)
          : line === '<DR>'
            ? String(descending)
            : line,
  );
  const deviceId = documented[1] ?? '';

  it('is what the SDK signs and the module checks, byte for byte (v2)', async () => {
    assert.equal(documented.length, 8);
    assert.match(deviceId, /^dev_[0-9a-f-]{36}$/);
    const signed = await deviceSignedText(
      deviceId,
      'POST',
      '/v1/indicia',
      body,
      challenge,
      ascending,
      descending,
    );
    assert.equal(signed, documented.join('\n'));
    const checked = moduleSignedText({
      deviceId,
      request: documented.slice(2, 5).join('\n'),
      challenge,
      ascendingRegister: ascending,
      descendingRegister: descending,
    });
    assert.equal(checked, signed);
  });

  it('is the v1 text without the device line when no device is named', () => {
    const v1 = moduleSignedText({
      deviceId: null,
      request: documented.slice(2, 5).join('\n'),
      challenge,
      ascendingRegister: ascending,
      descendingRegister: descending,
    });
    assert.equal(v1, ['indicia/request/v1', ...documented.slice(2)].join('\n'));
    assert.match(
      doc,
      /a signed text of seven lines\s+without the device line, starting `indicia\/request\/v1`/,
    );
  });
});
