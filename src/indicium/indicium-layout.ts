import type { Mills } from '../money/index.ts';
import { IndiciumError } from './indicium-error.ts';

export const INDICIUM_VERSION = 1;

/** Signature algorithms by their one-byte id in the indicium. */
export const ALGORITHM_IDS = { 'ecdsa-p256': 1, ed25519: 2 } as const;
export type IndiciumAlgorithm = keyof typeof ALGORITHM_IDS;

/** Everything an indicium states, before it is signed. */
export interface IndiciumFields {
  readonly algorithm: IndiciumAlgorithm;
  /** Serial of the meter's X.509 certificate (64-bit). */
  readonly certificateSerial: bigint;
  readonly manufacturerId: string;
  readonly modelId: string;
  /** The PSD serial: the last 8 digits of the meter number. */
  readonly psdSerial: number;
  /** Ascending register after this indicium. */
  readonly ascendingRegister: Mills;
  readonly postage: Mills;
  /** Mailing date, YYYY-MM-DD. */
  readonly date: string;
  /** Originating ZIP: 5 digits, or ZIP+4 as 12345-6789. */
  readonly originZip: string;
  /** The customer account the indicium was issued to. */
  readonly userId: number;
  /** Indicia software release that produced it. */
  readonly softwareId: number;
  /** Serial of the label the indicium is printed on; 0 when not on serialized stock. */
  readonly labelSerial: number;
  /** Descending register after this indicium. */
  readonly descendingRegister: Mills;
  /** Mail class and rate, up to 4 ASCII characters, e.g. "FC" (First-Class). */
  readonly rateCategory: string;
}

export interface FieldLayout {
  readonly name: string;
  readonly offset: number;
  readonly length: number;
  readonly encoding: string;
  readonly meaning: string;
}

/**
 * Version 1, byte by byte (big-endian throughout). docs/indicium-format.md carries the same table;
 * a test keeps them equal.
 */
export const INDICIUM_V1_LAYOUT: readonly FieldLayout[] = [
  { name: 'version', offset: 0, length: 1, encoding: 'uint8', meaning: 'layout version, 1' },
  {
    name: 'algorithm',
    offset: 1,
    length: 1,
    encoding: 'uint8',
    meaning: '1 = ECDSA P-256 with SHA-256, 2 = Ed25519',
  },
  {
    name: 'certificateSerial',
    offset: 2,
    length: 8,
    encoding: 'uint64',
    meaning: "serial of the meter's X.509 certificate",
  },
  {
    name: 'manufacturerId',
    offset: 10,
    length: 2,
    encoding: 'ASCII',
    meaning: 'vendor id assigned by the postal authority, e.g. 04',
  },
  {
    name: 'modelId',
    offset: 12,
    length: 2,
    encoding: 'ASCII',
    meaning: 'model id: a digit and a letter, e.g. 2N',
  },
  {
    name: 'psdSerial',
    offset: 14,
    length: 4,
    encoding: 'uint32',
    meaning: 'PSD serial: the last 8 digits of the meter number',
  },
  {
    name: 'ascendingRegister',
    offset: 18,
    length: 6,
    encoding: 'uint48, mills',
    meaning: 'AR after this indicium',
  },
  {
    name: 'postage',
    offset: 24,
    length: 4,
    encoding: 'uint32, mills',
    meaning: 'postage paid by this indicium',
  },
  { name: 'date', offset: 28, length: 4, encoding: 'uint32 YYYYMMDD', meaning: 'mailing date' },
  {
    name: 'originZip',
    offset: 32,
    length: 4,
    encoding: 'uint32',
    meaning: 'originating ZIP × 10000 + ZIP+4 extension (0 if none)',
  },
  { name: 'userId', offset: 36, length: 5, encoding: 'uint40', meaning: 'customer account number' },
  { name: 'softwareId', offset: 41, length: 1, encoding: 'uint8', meaning: 'Indicia software release' },
  {
    name: 'labelSerial',
    offset: 42,
    length: 5,
    encoding: 'uint40',
    meaning: 'label serial on serialized stock, else 0',
  },
  {
    name: 'descendingRegister',
    offset: 47,
    length: 6,
    encoding: 'uint48, mills',
    meaning: 'DR after this indicium',
  },
  {
    name: 'rateCategory',
    offset: 53,
    length: 4,
    encoding: 'ASCII, space-padded',
    meaning: 'mail class and rate, e.g. FC for First-Class',
  },
  {
    name: 'signature',
    offset: 57,
    length: 64,
    encoding: 'bytes',
    meaning: 'over bytes 0–56: ECDSA r‖s (32 + 32) or Ed25519 (64)',
  },
];

/** Bytes covered by the signature. */
export const SIGNED_LENGTH = 57;
export const SIGNATURE_LENGTH = 64;
export const INDICIUM_LENGTH = SIGNED_LENGTH + SIGNATURE_LENGTH;

function invalid(field: string, problem: string): IndiciumError {
  return new IndiciumError('indicium.field_invalid', `Indicium field ${field} ${problem}.`, {
    details: { field },
  });
}

function unsigned(field: string, value: number | bigint, bytes: number): bigint {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw invalid(field, `must be a whole number; got ${value}`);
  }
  const big = BigInt(value);
  if (big < 0n || big >= 1n << BigInt(bytes * 8))
    throw invalid(field, `must fit ${bytes * 8} bits without sign; got ${value}`);
  return big;
}

function writeUnsigned(target: Buffer, offset: number, length: number, value: bigint): void {
  for (let index = length - 1; index >= 0; index -= 1) {
    target[offset + index] = Number(value & 0xffn);
    value >>= 8n;
  }
}

function readUnsigned(source: Buffer, offset: number, length: number): bigint {
  let value = 0n;
  for (let index = 0; index < length; index += 1) value = (value << 8n) | BigInt(source[offset + index] ?? 0);
  return value;
}

function ascii(field: string, value: string, length: number, pattern: RegExp): Buffer {
  if (!pattern.test(value)) throw invalid(field, `"${value}" has the wrong form`);
  return Buffer.from(value.padEnd(length, ' '), 'ascii');
}

function encodeDate(date: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const parsed = new Date(`${date}T00:00:00Z`);
  if (match === null || Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== date) {
    throw invalid('date', `"${date}" is not a calendar date (YYYY-MM-DD)`);
  }
  return Number(`${match[1] ?? ''}${match[2] ?? ''}${match[3] ?? ''}`);
}

function encodeZip(zip: string): number {
  const match = /^(\d{5})(?:-(\d{4}))?$/.exec(zip);
  if (match === null) throw invalid('originZip', `"${zip}" is not a ZIP code (12345 or 12345-6789)`);
  return Number(match[1]) * 10_000 + Number(match[2] ?? '0');
}

/**
 * The 57 bytes a meter signs, laid out as {@link INDICIUM_V1_LAYOUT}. Throws
 * `indicium.field_invalid` naming the field when a value does not fit.
 *
 * @example encodeSignedData({ algorithm: 'ecdsa-p256', certificateSerial: 1n, manufacturerId: '04', ... })
 */
export function encodeSignedData(fields: IndiciumFields): Buffer {
  const bytes = Buffer.alloc(SIGNED_LENGTH);
  bytes[0] = INDICIUM_VERSION;
  bytes[1] = ALGORITHM_IDS[fields.algorithm];
  writeUnsigned(bytes, 2, 8, unsigned('certificateSerial', fields.certificateSerial, 8));
  ascii('manufacturerId', fields.manufacturerId, 2, /^[0-9A-Z]{2}$/).copy(bytes, 10);
  ascii('modelId', fields.modelId, 2, /^[0-9][A-Z]$/).copy(bytes, 12);
  writeUnsigned(bytes, 14, 4, unsigned('psdSerial', fields.psdSerial, 4));
  writeUnsigned(bytes, 18, 6, unsigned('ascendingRegister', fields.ascendingRegister, 6));
  writeUnsigned(bytes, 24, 4, unsigned('postage', fields.postage, 4));
  writeUnsigned(bytes, 28, 4, BigInt(encodeDate(fields.date)));
  writeUnsigned(bytes, 32, 4, BigInt(encodeZip(fields.originZip)));
  writeUnsigned(bytes, 36, 5, unsigned('userId', fields.userId, 5));
  writeUnsigned(bytes, 41, 1, unsigned('softwareId', fields.softwareId, 1));
  writeUnsigned(bytes, 42, 5, unsigned('labelSerial', fields.labelSerial, 5));
  writeUnsigned(bytes, 47, 6, unsigned('descendingRegister', fields.descendingRegister, 6));
  ascii('rateCategory', fields.rateCategory, 4, /^[0-9A-Z ]{1,4}$/).copy(bytes, 53);
  return bytes;
}

/** The full indicium: signed data followed by the 64-byte signature. */
export function assembleIndicium(signedData: Buffer, signature: Buffer): Buffer {
  if (signedData.length !== SIGNED_LENGTH || signature.length !== SIGNATURE_LENGTH) {
    throw new IndiciumError(
      'indicium.malformed',
      `An indicium is ${SIGNED_LENGTH} signed bytes and a ${SIGNATURE_LENGTH}-byte signature.`,
    );
  }
  return Buffer.concat([signedData, signature]);
}

export interface DecodedIndicium extends IndiciumFields {
  readonly version: number;
  readonly signedData: Buffer;
  readonly signature: Buffer;
}

/** Reads an indicium back; refuses anything of the wrong length, version or algorithm. */
export function decodeIndicium(bytes: Buffer): DecodedIndicium {
  const malformed = (problem: string): IndiciumError =>
    new IndiciumError('indicium.malformed', `This is not an Indicia indicium: ${problem}.`);
  if (bytes.length !== INDICIUM_LENGTH)
    throw malformed(`it has ${bytes.length} bytes, not ${INDICIUM_LENGTH}`);
  if (bytes[0] !== INDICIUM_VERSION) throw malformed(`unknown layout version ${bytes[0] ?? '?'}`);
  const algorithm = (Object.keys(ALGORITHM_IDS) as IndiciumAlgorithm[]).find(
    (name) => ALGORITHM_IDS[name] === bytes[1],
  );
  if (algorithm === undefined) throw malformed(`unknown algorithm id ${bytes[1] ?? '?'}`);
  const number = (offset: number, length: number): number => Number(readUnsigned(bytes, offset, length));
  const dateNumber = String(number(28, 4)).padStart(8, '0');
  const zip = number(32, 4);
  const zipText = `${String(Math.floor(zip / 10_000)).padStart(5, '0')}${zip % 10_000 === 0 ? '' : `-${String(zip % 10_000).padStart(4, '0')}`}`;
  return {
    version: bytes[0],
    algorithm,
    certificateSerial: readUnsigned(bytes, 2, 8),
    manufacturerId: bytes.subarray(10, 12).toString('ascii'),
    modelId: bytes.subarray(12, 14).toString('ascii'),
    psdSerial: number(14, 4),
    ascendingRegister: number(18, 6) as Mills,
    postage: number(24, 4) as Mills,
    date: `${dateNumber.slice(0, 4)}-${dateNumber.slice(4, 6)}-${dateNumber.slice(6, 8)}`,
    originZip: zipText,
    userId: number(36, 5),
    softwareId: number(41, 1),
    labelSerial: number(42, 5),
    descendingRegister: number(47, 6) as Mills,
    rateCategory: bytes.subarray(53, 57).toString('ascii').trimEnd(),
    signedData: Buffer.from(bytes.subarray(0, SIGNED_LENGTH)),
    signature: Buffer.from(bytes.subarray(SIGNED_LENGTH)),
  };
}

/** The worked example of docs/indicium-format.md: $0.730 First-Class from 94107-1234 on 2026-11-23. */
export const EXAMPLE_INDICIUM_FIELDS: IndiciumFields = {
  algorithm: 'ecdsa-p256',
  certificateSerial: 1n,
  manufacturerId: '04',
  modelId: '2N',
  psdSerial: 50_000_058,
  ascendingRegister: 18_250 as Mills,
  postage: 730 as Mills,
  date: '2026-11-23',
  originZip: '94107-1234',
  userId: 1001,
  softwareId: 1,
  labelSerial: 0,
  descendingRegister: 481_878 as Mills,
  rateCategory: 'FC',
};
