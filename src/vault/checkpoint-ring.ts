import type { CryptoBackend } from './backend/crypto-backend.ts';
import {
  type CheckpointRecord,
  type DiscardedTransaction,
  decodeRing,
  encodeRing,
  openCheckpoint,
} from './checkpoint.ts';
import { type CheckpointDecision, compareCheckpoints } from './checkpoint-comparison.ts';

interface RingEntry {
  readonly sealed: Buffer;
  readonly record: CheckpointRecord;
}

/**
 * A module's last transaction records, newest first, kept in the module's own store (a file or a
 * token object) and cached here. Only the module that owns it reads or writes it.
 */
export class CheckpointRing {
  readonly #backend: CryptoBackend;
  readonly #size: number;
  #entries: RingEntry[] = [];
  #isLoaded = false;

  constructor(backend: CryptoBackend, size: number) {
    this.#backend = backend;
    this.#size = size;
  }

  get length(): number {
    return this.#entries.length;
  }

  get newest(): CheckpointRecord | undefined {
    return this.#entries[0]?.record;
  }

  /** Reads the ring from the module's store once; returns why it is unusable, or null. */
  async load(): Promise<string | null> {
    if (this.#isLoaded) return null;
    this.#isLoaded = true;
    const stored = await this.#backend.readRing();
    if (stored === undefined) {
      this.#entries = [];
      return null;
    }
    try {
      const sealedEntries = await decodeRing(this.#backend, stored);
      this.#entries = await Promise.all(
        sealedEntries.map(async (sealed) => ({
          sealed,
          record: await openCheckpoint(this.#backend, sealed),
        })),
      );
      return null;
    } catch (error) {
      this.#entries = [];
      return `its checkpoint memory is damaged (${error instanceof Error ? error.message : 'unreadable'})`;
    }
  }

  /** Forgets the cache, e.g. after zeroization removed the stored ring. */
  forget(): void {
    this.#entries = [];
    this.#isLoaded = false;
  }

  /** How the database's checkpoint compares with the ring, without acting on it. */
  agreement(databaseCheckpoint: Buffer | null): CheckpointDecision {
    const oldest = this.#entries.at(-1);
    return compareCheckpoints(
      this.#entries.map((entry) => entry.sealed),
      databaseCheckpoint,
      oldest === undefined || oldest.record.counter === 1,
    );
  }

  /** Drops the newest records (auto-recovery) durably and returns the transactions they held. */
  async discardNewest(count: number): Promise<DiscardedTransaction[]> {
    const discarded = this.#entries
      .slice(0, count)
      .flatMap(({ record }) =>
        record.transactions.map((entry) => ({ ...entry, counter: record.counter, at: record.at })),
      );
    await this.#save(this.#entries.slice(count));
    return discarded;
  }

  /** Adds a record durably; the oldest falls off when the ring is full. */
  async push(sealed: Buffer, record: CheckpointRecord): Promise<void> {
    await this.#save([{ sealed, record }, ...this.#entries].slice(0, this.#size));
  }

  /** Restarts the ring from one verified checkpoint (or empty): the operator's re-anchoring. */
  async restartFrom(sealed: Buffer | null): Promise<void> {
    await this.#save(
      sealed === null ? [] : [{ sealed, record: await openCheckpoint(this.#backend, sealed) }],
    );
  }

  async #save(entries: RingEntry[]): Promise<void> {
    await this.#backend.writeRing(
      await encodeRing(
        this.#backend,
        entries.map((entry) => entry.sealed),
      ),
    );
    this.#entries = entries;
    this.#isLoaded = true;
  }
}
