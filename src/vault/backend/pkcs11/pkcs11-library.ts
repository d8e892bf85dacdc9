import pkcs11js from 'pkcs11js';
import { VaultError } from '../../vault-error.ts';

export type Pkcs11 = InstanceType<typeof pkcs11js.PKCS11>;
export type Handle = Buffer;
export type Template = pkcs11js.Template;
export type AttributePair = readonly [number, number | boolean | string | Buffer];

/** A PKCS#11 template from [attribute, value] pairs, which read better in long lists. */
export function templateOf(pairs: readonly AttributePair[]): Template {
  return pairs.map(([type, value]) => ({ type, value }));
}

/** A secret key that never leaves the token in the clear. */
export function secretKeyAttributes(keyType: number, isToken: boolean): AttributePair[] {
  return [
    [pkcs11js.CKA_CLASS, pkcs11js.CKO_SECRET_KEY],
    [pkcs11js.CKA_KEY_TYPE, keyType],
    [pkcs11js.CKA_TOKEN, isToken],
    [pkcs11js.CKA_PRIVATE, true],
    [pkcs11js.CKA_SENSITIVE, true],
    [pkcs11js.CKA_EXTRACTABLE, false],
  ];
}

interface LoadedLibrary {
  readonly pkcs11: Pkcs11;
  users: number;
  readonly loggedInTokens: Set<string>;
}

const libraries = new Map<string, LoadedLibrary>();

/**
 * One initialized PKCS#11 library per process: C_Initialize may run once per application, and a
 * token's login state is shared by all of the application's sessions.
 */
export function acquireLibrary(path: string): LoadedLibrary {
  let loaded = libraries.get(path);
  if (loaded === undefined) {
    const pkcs11 = new pkcs11js.PKCS11();
    try {
      pkcs11.load(path);
      pkcs11.C_Initialize();
    } catch (error) {
      throw new VaultError(
        'vault.backend_unavailable',
        `The PKCS#11 library ${path} cannot be loaded (${error instanceof Error ? error.message : 'unknown error'}).`,
      );
    }
    loaded = { pkcs11, users: 0, loggedInTokens: new Set() };
    libraries.set(path, loaded);
  }
  loaded.users += 1;
  return loaded;
}

export function releaseLibrary(path: string): void {
  const loaded = libraries.get(path);
  if (loaded === undefined) return;
  loaded.users -= 1;
  if (loaded.users === 0) {
    libraries.delete(path);
    loaded.pkcs11.C_Finalize();
  }
}

/** PKCS#11 pads labels with spaces, some tokens with NULs. */
export function cleanLabel(label: string): string {
  return label.replace(/[\0 ]+$/, '');
}

/** The slot holding the initialized token with this label. */
export function findTokenSlot(pkcs11: Pkcs11, tokenLabel: string): { slot: Handle; serial: string } {
  for (const slot of pkcs11.C_GetSlotList(true)) {
    const info = pkcs11.C_GetTokenInfo(slot);
    if ((info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0 && cleanLabel(info.label) === tokenLabel) {
      return { slot, serial: cleanLabel(info.serialNumber) };
    }
  }
  throw new VaultError(
    'vault.backend_unavailable',
    `No initialized PKCS#11 token is labelled "${tokenLabel}".`,
  );
}

/** Every object matching a template, in the token's order. */
export function findObjects(pkcs11: Pkcs11, session: Handle, template: Template): Handle[] {
  pkcs11.C_FindObjectsInit(session, template);
  try {
    return pkcs11.C_FindObjects(session, 1000);
  } finally {
    pkcs11.C_FindObjectsFinal(session);
  }
}

export function attributeBuffer(pkcs11: Pkcs11, session: Handle, object: Handle, type: number): Buffer {
  const [attribute] = pkcs11.C_GetAttributeValue(session, object, [{ type }]);
  const value = attribute?.value;
  return Buffer.isBuffer(value) ? value : Buffer.alloc(0);
}

/**
 * Initializes a token on the library's free slot (as `softhsm2-util --init-token` would) and sets
 * its user PIN. Used by the test harness and by operators setting up SoftHSM2.
 */
export function initializeToken(libraryPath: string, label: string, soPin: string, userPin: string): void {
  const loaded = acquireLibrary(libraryPath);
  try {
    const { pkcs11 } = loaded;
    const free = pkcs11
      .C_GetSlotList(true)
      .find((slot) => (pkcs11.C_GetTokenInfo(slot).flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0);
    if (free === undefined)
      throw new VaultError('vault.backend_unavailable', 'The PKCS#11 library has no free slot.');
    pkcs11.C_InitToken(free, soPin, label.padEnd(32, ' '));
    const { slot } = findTokenSlot(pkcs11, label);
    const session = pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      pkcs11.C_Login(session, pkcs11js.CKU_SO, soPin);
      pkcs11.C_InitPIN(session, userPin);
      pkcs11.C_Logout(session);
    } finally {
      pkcs11.C_CloseSession(session);
    }
  } finally {
    releaseLibrary(libraryPath);
  }
}
