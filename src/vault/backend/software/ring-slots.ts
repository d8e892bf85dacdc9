import { createHash } from 'node:crypto';
import { closeSync, existsSync, fdatasyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { syncFolder } from './durable-file.ts';

const SLOT_MAGIC = Buffer.from('IRS1');
const HEADER_LENGTH = SLOT_MAGIC.length + 8 + 4;
const CHECKSUM_LENGTH = 32;

/** A slot's frame: magic, generation, length, the bytes, SHA-256 over all of that. */
function frame(generation: bigint, bytes: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_LENGTH);
  SLOT_MAGIC.copy(header, 0);
  header.writeBigUInt64BE(generation, SLOT_MAGIC.length);
  header.writeUInt32BE(bytes.length, SLOT_MAGIC.length + 8);
  const checksum = createHash('sha256').update(header).update(bytes).digest();
  return Buffer.concat([header, bytes, checksum]);
}

/** A slot's generation and bytes, or null when it is missing, torn or not ours. */
function unframe(stored: Buffer): { generation: bigint; bytes: Buffer } | null {
  if (stored.length < HEADER_LENGTH + CHECKSUM_LENGTH) return null;
  if (!stored.subarray(0, SLOT_MAGIC.length).equals(SLOT_MAGIC)) return null;
  const length = stored.readUInt32BE(SLOT_MAGIC.length + 8);
  if (stored.length < HEADER_LENGTH + length + CHECKSUM_LENGTH) return null;
  const body = stored.subarray(0, HEADER_LENGTH + length);
  const checksum = stored.subarray(body.length, body.length + CHECKSUM_LENGTH);
  if (!createHash('sha256').update(body).digest().equals(checksum)) return null;
  return { generation: stored.readBigUInt64BE(SLOT_MAGIC.length), bytes: body.subarray(HEADER_LENGTH) };
}

/**
 * The software module's checkpoint ring on disk: two slot files written in turn, each frame
 * carrying a generation number and a checksum, so one write is a `pwrite` and an `fdatasync` of a
 * file already open (no temporary file, rename or folder sync). A crash mid-write tears only the
 * slot being written; the other still holds the previous generation, which a read then takes. The
 * ring's own MAC (checkpoint.ts) says whether the bytes are authentic; the checksum here only
 * tells a torn frame from a whole one.
 */
export class RingSlots {
  readonly #paths: readonly [string, string];
  readonly #legacyPath: string;
  #files: [number, number] | null = null;
  #generation = 0n;
  /** An earlier version's single-file ring, removed once a slot holds a newer ring. */
  #hasLegacy = false;

  /** `legacyPath`: the single-file ring earlier versions wrote, read when no slot holds one. */
  constructor(folder: string, legacyPath: string) {
    this.#paths = [join(folder, 'ring-slot-a.bin'), join(folder, 'ring-slot-b.bin')];
    this.#legacyPath = legacyPath;
  }

  read(): Buffer | undefined {
    let newest: { generation: bigint; bytes: Buffer } | null = null;
    for (const path of this.#paths) {
      const slot = existsSync(path) ? unframe(readFileSync(path)) : null;
      if (slot !== null && (newest === null || slot.generation > newest.generation)) newest = slot;
    }
    if (newest !== null) {
      this.#generation = newest.generation;
      return Buffer.from(newest.bytes);
    }
    return existsSync(this.#legacyPath) ? readFileSync(this.#legacyPath) : undefined;
  }

  /** Durable when it returns: the next generation into the slot the previous one is not in. */
  write(bytes: Buffer): void {
    const files = this.#open();
    if (this.#generation === 0n) this.read();
    const generation = this.#generation + 1n;
    const framed = frame(generation, bytes);
    const file = generation % 2n === 0n ? files[0] : files[1];
    writeSync(file, framed, 0, framed.length, 0);
    fdatasyncSync(file);
    this.#generation = generation;
    if (this.#hasLegacy) {
      rmSync(this.#legacyPath, { force: true });
      syncFolder(dirname(this.#legacyPath));
      this.#hasLegacy = false;
    }
  }

  /** Removes both slots (zeroization). */
  remove(): void {
    this.close();
    for (const path of [...this.#paths, this.#legacyPath]) rmSync(path, { force: true });
    this.#generation = 0n;
  }

  close(): void {
    if (this.#files === null) return;
    for (const file of this.#files) closeSync(file);
    this.#files = null;
  }

  /** Opens both slots once, creating them if need be. */
  #open(): [number, number] {
    if (this.#files !== null) return this.#files;
    const [a, b] = this.#paths;
    const existed = existsSync(a) && existsSync(b);
    this.#files = [
      openSync(a, existsSync(a) ? 'r+' : 'w+', 0o600),
      openSync(b, existsSync(b) ? 'r+' : 'w+', 0o600),
    ];
    this.#hasLegacy = existsSync(this.#legacyPath);
    if (!existed) syncFolder(dirname(a));
    return this.#files;
  }
}
