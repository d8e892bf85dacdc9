import assert from 'node:assert/strict';
import {
  createDecipheriv,
  createHash,
  createHmac,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { requestDigest } from '../../src/api/index.ts';
import { Device, IndiciaClient, IndiciaClientError, signedText } from '../../src/client/index.ts';
import type { Mills } from '../../src/money/index.ts';
import {
  type PsdState,
  checkClientAuthorization,
  signedText as moduleSignedText,
} from '../../src/vault/index.ts';

// docs/client-protocol.md, read as a specification: its examples and byte recipes are checked
// against the SDK (src/client/device.ts) and the module's side (src/vault/client-protocol.ts).

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'client-protocol.md'), 'utf8');
const codeBlocks = [...doc.matchAll(/```\n([\s\S]*?)\n```/g)].map((match) => match[1] ?? '');
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('docs/client-protocol.md against the code', () => {
  it('signed requests: eight lines, and the documented refund without a body is what SDK and module sign', async () => {
    assert.match(doc, /The signed text \(protocol v2\) is \*\*eight lines\*\* joined by `\\n`/);
    const template = codeBlocks.find((block) =>
      /^indicia\/request\/v2\ndev_[^\n]+\nPOST\n\/v1\/indicia\n/.test(block),
    );
    assert.equal(template?.split('\n').length, 8);
    const example = codeBlocks.find((block) => block.includes('/refund\n'));
    assert.ok(example !== undefined, 'the refund example');
    const [label, deviceId, method, path, digest, challenge, ar, dr, ...rest] = example.split('\n');
    assert.equal(rest.length, 0);
    assert.equal(label, 'indicia/request/v2');
    assert.ok(deviceId !== undefined);
    assert.equal(digest, sha256(''));
    assert.ok(doc.includes(`\`${sha256('')}\``), 'the empty-body digest is spelled out');
    assert.ok(method !== undefined && path !== undefined && challenge !== undefined);
    assert.equal(Buffer.from(challenge, 'base64').length, 32);

    // The SDK, for a request with no body.
    assert.equal(
      await signedText(deviceId, method, path, undefined, challenge, Number(ar), Number(dr)),
      example,
    );
    // The module's side, from the digest the API makes of a request without a body.
    const authorization = {
      deviceId,
      request: requestDigest(method, path, undefined),
      challenge,
      ascendingRegister: Number(ar),
      descendingRegister: Number(dr),
    };
    assert.equal(moduleSignedText(authorization), example);
    // A body of {} is a body.
    assert.notEqual(requestDigest(method, path, {}), requestDigest(method, path, undefined));
    assert.equal(
      (await signedText(deviceId, method, path, {}, challenge, 730, 99_270)).split('\n')[4],
      sha256('{}'),
    );

    // HMAC-SHA256 with the HMK over the UTF-8 text: the SDK's header, accepted by the module.
    const hmk = randomBytes(32);
    const device = await Device.restore({
      id: deviceId,
      hmk: hmk.toString('base64'),
      challenge,
      ascendingRegisterMills: Number(ar),
      descendingRegisterMills: Number(dr),
    });
    const headers = await device.headers(method, path, undefined);
    const mac = createHmac('sha256', hmk).update(Buffer.from(example, 'utf8')).digest();
    assert.equal(headers['indicia-signature'], mac.toString('base64'));
    assert.equal(headers['indicia-registers'], `${ar},${dr}`);
    const state = {
      meterId: '421D00000002',
      devices: [
        {
          id: deviceId,
          name: 'doc',
          hmk: hmk.toString('base64'),
          lastChallenge: challenge,
          ascendingRegister: Number(ar) as Mills,
          descendingRegister: Number(dr) as Mills,
          enrolledAt: null,
          keyIssuedAt: null,
          expiresAt: '2999-01-01T00:00:00.000Z',
          revokedAt: null,
        },
      ],
    } as unknown as PsdState;
    assert.doesNotThrow(() =>
      checkClientAuthorization(state, { ...authorization, mac, nextChallenge: challenge }, new Date()),
    );
  });

  it('enrollment: the confirmation HMAC takes the decoded challenge bytes, as the document says', async () => {
    assert.match(doc, /Both challenges enter \*\*decoded from base64\*\*/);
    // A stand-in for the module: the enrollment key pair, and the steps as the document gives them.
    const enrollment = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = enrollment.publicKey.export({ type: 'spki', format: 'der' });
    const fingerprint = sha256Bytes(spki);
    const firstChallenge = randomBytes(32);

    const enroll = async (confirmationOver: (clientChallenge: Buffer) => Buffer): Promise<Device> => {
      const fakeFetch = ((input: string | URL, init?: RequestInit): Promise<Response> => {
        const url = String(input);
        if (url.endsWith('/v1/devices/enrollment-key'))
          return Promise.resolve(
            json({ algorithm: 'ECDH-P256', publicKey: spki.toString('base64'), fingerprint }),
          );
        const body = JSON.parse(typeof init?.body === 'string' ? init.body : '') as Record<string, string>;
        const ephemeral = Buffer.from(body['ephemeralPublicKey'] ?? '', 'base64');
        const clientChallenge = Buffer.from(body['clientChallenge'] ?? '', 'base64');
        // Steps 2 and 3: Z, then OKM = HKDF-SHA256(Z, salt = clientChallenge, info = label ‖ SPKI(E) ‖ SPKI(key)).
        const z = diffieHellman({
          privateKey: enrollment.privateKey,
          publicKey: createPublicKey({ key: ephemeral, format: 'der', type: 'spki' }),
        });
        const info = Buffer.concat([Buffer.from('indicia/enroll/v1'), ephemeral, spki]);
        const okm = Buffer.from(hkdfSync('sha256', z, clientChallenge, info, 64));
        // Step 4, undone: the HMK decrypts under kEnc with the label as additional data.
        const sealed = Buffer.from(body['encryptedHmk'] ?? '', 'base64');
        assert.equal(sealed.length, 48);
        const decipher = createDecipheriv(
          'aes-256-gcm',
          okm.subarray(0, 32),
          Buffer.from(body['iv'] ?? '', 'base64'),
        );
        decipher.setAAD(Buffer.from('indicia/enroll/v1'));
        decipher.setAuthTag(sealed.subarray(32));
        assert.equal(Buffer.concat([decipher.update(sealed.subarray(0, 32)), decipher.final()]).length, 32);
        const confirmation = createHmac('sha256', okm.subarray(32, 64))
          .update(confirmationOver(clientChallenge))
          .digest();
        return Promise.resolve(
          json(
            {
              device: { id: 'dev_doc', name: 'doc' },
              challenge: firstChallenge.toString('base64'),
              confirmation: confirmation.toString('base64'),
              registers: { ascendingRegisterMills: 0, descendingRegisterMills: 0 },
            },
            201,
          ),
        );
      }) as typeof fetch;
      const client = new IndiciaClient({ baseUrl: 'http://doc.test', apiKey: 'ik_doc', fetch: fakeFetch });
      return client.enrollDevice('doc', fingerprint);
    };

    // As documented: 25 label bytes ‖ 32 bytes of clientChallenge ‖ 32 bytes the challenge decodes to.
    const documented = (clientChallenge: Buffer): Buffer => {
      const message = Buffer.concat([
        Buffer.from('indicia/enroll/confirm/v1'),
        clientChallenge,
        firstChallenge,
      ]);
      assert.equal(message.length, 89);
      return message;
    };
    const device = await enroll(documented);
    assert.equal(device.challenge, firstChallenge.toString('base64'));
    // The challenges as base64 text instead: the SDK refuses the enrollment.
    const asText = (clientChallenge: Buffer): Buffer =>
      Buffer.from(
        `indicia/enroll/confirm/v1${clientChallenge.toString('base64')}${firstChallenge.toString('base64')}`,
      );
    await assert.rejects(
      enroll(asText),
      (error: unknown) =>
        error instanceof IndiciaClientError && error.code === 'client.enrollment_not_confirmed',
    );
  });
});

function sha256Bytes(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}
