import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installDebianPackages } from './system-packages.ts';

export const SOFTHSM_LIBRARY = '/usr/lib/softhsm/libsofthsm2.so';

let folder: string | undefined;

/** Installs Debian's softhsm2 when its library is missing; fails saying so when it cannot. */
export function ensureSoftHsmInstalled(): void {
  if (!existsSync(SOFTHSM_LIBRARY)) {
    installDebianPackages(['softhsm2'], 'SoftHSM2 is needed for the PKCS#11 crypto module tests');
  }
}

/**
 * Makes SoftHSM2 usable by this process: installs Debian's softhsm2 when missing (failing with a
 * message saying so when it cannot), and points SOFTHSM2_CONF at a token folder of its own, which
 * is removed when the process exits. Must run before the library is first loaded.
 */
export function prepareSoftHsm(): string {
  ensureSoftHsmInstalled();
  if (folder === undefined) {
    const created = mkdtempSync(join(tmpdir(), 'indicia-softhsm-'));
    folder = created;
    mkdirSync(join(created, 'tokens'));
    const configuration = join(created, 'softhsm2.conf');
    writeFileSync(
      configuration,
      `directories.tokendir = ${join(created, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
    );
    process.env['SOFTHSM2_CONF'] = configuration;
    process.once('exit', () => rmSync(created, { recursive: true, force: true }));
  }
  return SOFTHSM_LIBRARY;
}

export function randomPin(): string {
  return randomBytes(9).toString('base64url');
}
