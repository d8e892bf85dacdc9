import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from '../encoding/index.ts';
import type { CapturedStatement } from '../store/index.ts';

/** The first line of every shipment file (docs/log-shipping.md). */
export const SHIPMENT_FORMAT = 'indicia-log-shipment/1';

/** One protected-log record as shipped: the module's sealed record and what replay needs beside it. */
export interface ShippedRecord {
  readonly module: string;
  readonly counter: number;
  readonly previous: string | null;
  readonly digest: string;
  /** base64 of the sealed checkpoint record (MACed inside the module). */
  readonly sealed: string;
  readonly recordedAt: string;
  readonly packages: readonly {
    readonly meterId: string;
    readonly sequence: number;
    readonly sealed: string;
  }[];
  readonly statements: readonly CapturedStatement[];
}

export interface ShipmentHeader {
  readonly format: typeof SHIPMENT_FORMAT;
  readonly sequence: number;
  /** The store dialect the statements were written for. */
  readonly dialect: string;
  /** SHA-256 of the previous shipment file, or null for the first. */
  readonly previousFile: string | null;
  readonly createdAt: string;
}

export interface ShipmentTrailer {
  readonly records: number;
  /** Each module's newest shipped counter after this shipment. */
  readonly through: Readonly<Record<string, number>>;
  /** SHA-256 over every line before this one (each with its newline). */
  readonly sha256: string;
  /** HMAC-SHA-256 of `sha256` under the installation's shipment key (derived inside a module). */
  readonly mac: string;
}

export interface Shipment {
  readonly header: ShipmentHeader;
  readonly records: readonly ShippedRecord[];
  readonly trailer: ShipmentTrailer;
}

/** Builds a shipment file's text: header, one record per line, trailer with digest and MAC. */
export function encodeShipment(
  header: ShipmentHeader,
  records: readonly ShippedRecord[],
  through: Readonly<Record<string, number>>,
  key: Buffer,
): string {
  const lines = [canonicalJson(header), ...records.map((record) => canonicalJson(record))].map(
    (line) => `${line}\n`,
  );
  const sha256 = createHash('sha256').update(lines.join('')).digest('hex');
  const mac = createHmac('sha256', key).update(sha256).digest('hex');
  const trailer: ShipmentTrailer = { records: records.length, through, sha256, mac };
  return `${lines.join('')}${canonicalJson(trailer)}\n`;
}

/** Why a shipment file cannot be used, in words; thrown by {@link decodeShipment}. */
export class ShipmentDamaged extends Error {}

/** Reads and checks one shipment file: format, digest over its lines, MAC under `key`. */
export function decodeShipment(text: string, key: Buffer): Shipment {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines.length < 2) throw new ShipmentDamaged('it is truncated (no trailer)');
  let header: ShipmentHeader;
  let trailer: ShipmentTrailer;
  try {
    header = JSON.parse(lines[0] ?? '') as ShipmentHeader;
    trailer = JSON.parse(lines.at(-1) ?? '') as ShipmentTrailer;
  } catch {
    throw new ShipmentDamaged('its header or trailer is not JSON');
  }
  if ((header.format as string) !== SHIPMENT_FORMAT)
    throw new ShipmentDamaged(`its format is not ${SHIPMENT_FORMAT}`);
  const body = lines
    .slice(0, -1)
    .map((line) => `${line}\n`)
    .join('');
  const sha256 = createHash('sha256').update(body).digest('hex');
  if (sha256 !== trailer.sha256)
    throw new ShipmentDamaged('its lines do not match its digest (changed or truncated)');
  const expected = createHmac('sha256', key).update(sha256).digest();
  const given = Buffer.from(typeof trailer.mac === 'string' ? trailer.mac : '', 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new ShipmentDamaged("its MAC does not verify under the installation's shipment key");
  const records = lines.slice(1, -1).map((line) => JSON.parse(line) as ShippedRecord);
  if (records.length !== trailer.records)
    throw new ShipmentDamaged('it holds another number of records than its trailer says');
  return { header, records, trailer };
}

/** SHA-256 of a whole shipment file: the next shipment's `previousFile`. */
export function shipmentFileDigest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** `shipment-0000000042.jsonl`: names sort in shipping order. */
export function shipmentFileName(sequence: number): string {
  return `shipment-${String(sequence).padStart(10, '0')}.jsonl`;
}
