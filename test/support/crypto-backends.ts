import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BackendKind,
  type CryptoBackend,
  Pkcs11Backend,
  SoftwareBackend,
  SoftwareKeystore,
  initializeToken,
} from '../../src/vault/index.ts';
import { prepareSoftHsm, randomPin } from './softhsm.ts';

/** One installation's worth of a backend: modules created over it share its keys. */
export interface BackendInstallation {
  readonly kind: BackendKind;
  /** The credential that makes someone crypto-officer on this installation. */
  readonly officerCredential: string;
  /** A backend instance for module number n; a second call with the same n is that module restarted. */
  newBackend(moduleNumber: number): Promise<CryptoBackend>;
  dispose(): Promise<void>;
}

export interface BackendFixture {
  readonly kind: BackendKind;
  install(): Promise<BackendInstallation>;
}

export const softwareFixture: BackendFixture = {
  kind: 'software',
  install() {
    const vaultDir = mkdtempSync(join(tmpdir(), 'indicia-vault-'));
    const kek = randomBytes(32);
    return Promise.resolve({
      kind: 'software',
      officerCredential: `officer-${randomBytes(8).toString('hex')}`,
      newBackend: (moduleNumber: number) =>
        Promise.resolve(new SoftwareBackend(new SoftwareKeystore(vaultDir, kek), moduleNumber)),
      dispose: () => {
        rmSync(vaultDir, { recursive: true, force: true });
        return Promise.resolve();
      },
    });
  },
};

/** A fresh SoftHSM2 token per installation, in a token folder private to this test process. */
export const pkcs11Fixture: BackendFixture = {
  kind: 'pkcs11',
  install() {
    const library = prepareSoftHsm();
    const tokenLabel = `indicia-${randomBytes(6).toString('hex')}`;
    const userPin = randomPin();
    initializeToken(library, tokenLabel, randomPin(), userPin);
    const opened: CryptoBackend[] = [];
    return Promise.resolve({
      kind: 'pkcs11',
      officerCredential: `officer-${randomBytes(8).toString('hex')}`,
      newBackend: async (moduleNumber: number) => {
        const backend = await Pkcs11Backend.open({ library, tokenLabel, userPin }, moduleNumber);
        opened.push(backend);
        return backend;
      },
      dispose: async () => {
        for (const backend of opened) await backend.close();
      },
    });
  },
};
