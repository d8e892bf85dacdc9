import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { StartupError } from '../../src/startup/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { startTestServer } from '../support/start-server.ts';
import { installDebianPackages, runCommand } from '../support/system-packages.ts';

/** A self-signed certificate for 127.0.0.1, made with the openssl command (installed if missing). */
function selfSignedCertificate(): { certFile: string; keyFile: string } {
  if (runCommand('openssl', ['version']).status !== 0)
    installDebianPackages(['openssl'], 'the TLS test needs openssl');
  const folder = mkdtempSync(join(tmpdir(), 'indicia-tls-'));
  const certFile = join(folder, 'cert.pem');
  const keyFile = join(folder, 'key.pem');
  const made = runCommand('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  assert.equal(made.status, 0, made.output);
  assert.ok(existsSync(certFile) && existsSync(keyFile));
  return { certFile, keyFile };
}

function getJson(url: string, ca: Buffer): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const sqlite = dialectFixtures.find((fixture) => fixture.name === 'sqlite');
assert.ok(sqlite);

describe('TLS', () => {
  it('serves HTTPS when a certificate and key are configured', async () => {
    const { certFile, keyFile } = selfSignedCertificate();
    const server = await startTestServer(sqlite, {
      INDICIA_TLS_CERT_FILE: certFile,
      INDICIA_TLS_KEY_FILE: keyFile,
    });
    try {
      assert.match(server.indicia.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const response = await getJson(`${server.indicia.url}/healthz`, readFileSync(certFile));
      assert.equal(response.status, 200);
      await assert.rejects(fetch(`${server.indicia.url.replace('https', 'http')}/healthz`));
    } finally {
      await server.stop();
    }
  });

  it('refuses to start when a TLS file cannot be read', async () => {
    await assert.rejects(
      startTestServer(sqlite, {
        INDICIA_TLS_CERT_FILE: '/nonexistent/cert.pem',
        INDICIA_TLS_KEY_FILE: '/nonexistent/key.pem',
      }),
      (error: unknown) =>
        error instanceof StartupError &&
        error.code === 'startup.tls_unreadable' &&
        /cert\.pem/.test(error.message),
    );
  });
});
