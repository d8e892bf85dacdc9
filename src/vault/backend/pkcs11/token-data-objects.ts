import pkcs11js from 'pkcs11js';
import { type Handle, type Pkcs11, attributeBuffer, findObjects } from './pkcs11-library.ts';

const APPLICATION = 'indicia';
const GENERATION_BYTES = 8;

/** The token's private data objects with this label, newest generation first. */
function generations(
  pkcs11: Pkcs11,
  session: Handle,
  label: string,
): { handle: Handle; generation: number; value: Buffer }[] {
  return findObjects(pkcs11, session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
    { type: pkcs11js.CKA_LABEL, value: label },
  ])
    .map((handle) => {
      const stored = attributeBuffer(pkcs11, session, handle, pkcs11js.CKA_VALUE);
      return {
        handle,
        generation: stored.length >= GENERATION_BYTES ? Number(stored.readBigUInt64BE(0)) : 0,
        value: stored.subarray(GENERATION_BYTES),
      };
    })
    .sort((left, right) => right.generation - left.generation);
}

/** The newest value stored under a label, if any. */
export function readDataObject(pkcs11: Pkcs11, session: Handle, label: string): Buffer | undefined {
  return generations(pkcs11, session, label)[0]?.value;
}

/**
 * Replaces the value stored under a label. Data objects are read-only on some tokens, so this
 * writes the next generation (an 8-byte counter leads the value; data objects take no CKA_ID)
 * and then destroys the older ones: after a crash in between, readers take the newest.
 */
export function writeDataObject(pkcs11: Pkcs11, session: Handle, label: string, value: Buffer): void {
  const existing = generations(pkcs11, session, label);
  const generation = Buffer.alloc(GENERATION_BYTES);
  generation.writeBigUInt64BE(BigInt((existing[0]?.generation ?? 0) + 1));
  pkcs11.C_CreateObject(session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_APPLICATION, value: APPLICATION },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_VALUE, value: Buffer.concat([generation, value]) },
  ]);
  for (const old of existing) pkcs11.C_DestroyObject(session, old.handle);
}

const KEYSET_LABEL = 'indicia-keyset';

/** Destroys every generation stored under a label. */
export function destroyDataObject(pkcs11: Pkcs11, session: Handle, label: string): void {
  for (const stored of generations(pkcs11, session, label)) pkcs11.C_DestroyObject(session, stored.handle);
}

/** What the token keeps about its key set beside the keys: the minimum master key version, the officer's hash. */
export interface KeysetMetadata {
  minimumMasterKeyVersion: number;
  officerCredentialHash: string;
  /**
   * How many times this token's Indicia keys were zeroized and created again (absent: never). It
   * is part of each module's serial, so a module re-initialized after zeroization starts a new chain.
   */
  epoch?: number;
}

const ZEROIZED_LABEL = 'indicia-zeroized';

/** Left on the token by zeroization, until keys are created again. */
export interface ZeroizationMarker {
  zeroizedAt: string;
  /** The epoch of the keys destroyed. */
  epoch: number;
}

export function readZeroizationMarker(pkcs11: Pkcs11, session: Handle): ZeroizationMarker | undefined {
  const stored = readDataObject(pkcs11, session, ZEROIZED_LABEL);
  return stored === undefined ? undefined : (JSON.parse(stored.toString('utf8')) as ZeroizationMarker);
}

export function writeZeroizationMarker(pkcs11: Pkcs11, session: Handle, marker: ZeroizationMarker): void {
  writeDataObject(pkcs11, session, ZEROIZED_LABEL, Buffer.from(JSON.stringify(marker), 'utf8'));
}

export function removeZeroizationMarker(pkcs11: Pkcs11, session: Handle): void {
  destroyDataObject(pkcs11, session, ZEROIZED_LABEL);
}

export function readKeysetMetadata(pkcs11: Pkcs11, session: Handle): KeysetMetadata | undefined {
  const stored = readDataObject(pkcs11, session, KEYSET_LABEL);
  return stored === undefined ? undefined : (JSON.parse(stored.toString('utf8')) as KeysetMetadata);
}

export function writeKeysetMetadata(pkcs11: Pkcs11, session: Handle, metadata: KeysetMetadata): void {
  writeDataObject(pkcs11, session, KEYSET_LABEL, Buffer.from(JSON.stringify(metadata), 'utf8'));
}
