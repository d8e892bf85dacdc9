import type { CryptoBackend } from './backend/crypto-backend.ts';
import {
  type CheckpointRecord,
  type DiscardedTransaction,
  checkpointDigest,
  decodeRing,
  encodeRing,
  openCheckpoint,
} from './checkpoint.ts';
import { type CheckpointDecision, compareCheckpoints } from './checkpoint-comparison.ts';
import { VaultError } from './vault-error.ts';

interface RingEntry {
  readonly sealed: Buffer;
  readonly record: CheckpointRecord;
}

/**
 * A module's last transaction records, newest first, kept in the module's own store (a file or a
 * token object) and cached here, with the newest counter the database was seen to commit. Only
 * the module that owns it reads or writes it.
 */
export class CheckpointRing {
  readonly #backend: CryptoBackend;
  readonly #size: number;
  #entries: RingEntry[] = [];
  #confirmedCounter: number | null = null;
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

  /** The SHA-256 of the newest sealed record: the next record's link in the module's chain. */
  get newestDigest(): string | null {
    const newest = this.#entries[0];
    return newest === undefined ? null : checkpointDigest(newest.sealed);
  }

  get confirmedCounter(): number | null {
    return this.#confirmedCounter;
  }

  /** Reads the ring from the module's store once; returns why it is unusable, or null. */
  async load(): Promise<string | null> {
    if (this.#isLoaded) return null;
    return this.adopt(await this.#backend.readRing());
  }

  /**
   * Takes `stored` (bytes just read from the module's store) as the ring: how an inspecting
   * process that never writes the ring follows the owner's writes. Returns why it is unusable, or null.
   */
  async adopt(stored: Buffer | undefined): Promise<string | null> {
    this.#isLoaded = true;
    this.#confirmedCounter = null;
    if (stored === undefined) {
      this.#entries = [];
      return null;
    }
    try {
      const ring = await decodeRing(this.#backend, stored);
      this.#entries = await Promise.all(
        ring.entries.map(async (sealed) => ({
          sealed,
          record: await openCheckpoint(this.#backend, sealed),
        })),
      );
      const newest = this.#entries[0]?.record.counter;
      // An old ring kept no confirmation: all but its newest record were committed.
      this.#confirmedCounter =
        ring.isLegacy && newest !== undefined && newest > 1 ? newest - 1 : ring.confirmedCounter;
      return null;
    } catch (error) {
      this.#entries = [];
      return `its checkpoint memory is damaged (${error instanceof Error ? error.message : 'unreadable'})`;
    }
  }

  /** Forgets the cache, e.g. after zeroization removed the stored ring. */
  forget(): void {
    this.#entries = [];
    this.#confirmedCounter = null;
    this.#isLoaded = false;
  }

  /** How the database's checkpoint compares with the ring, without acting on it. */
  agreement(databaseCheckpoint: Buffer | null): CheckpointDecision {
    return compareCheckpoints(this.#entries, databaseCheckpoint, this.#confirmedCounter);
  }

  /**
   * The newest transaction of `meterId` the ring remembers: a package presented with an older
   * sequence than this was replaced by an earlier version of itself.
   */
  newestOf(meterId: string): { readonly packageSequence: number; readonly counter: number } | null {
    for (const { record } of this.#entries) {
      for (let index = record.transactions.length - 1; index >= 0; index -= 1) {
        const entry = record.transactions[index];
        if (entry?.meterId === meterId)
          return { packageSequence: entry.packageSequence, counter: record.counter };
      }
    }
    return null;
  }

  /**
   * The confirmed records newer than `databaseCheckpoint`, oldest first: what the module committed
   * after the database's (a restored one's) last record of it. `covered` is false when the ring no
   * longer reaches back to that record, so records in between are beyond its memory.
   */
  confirmedAfter(databaseCheckpoint: Buffer | null): {
    readonly covered: boolean;
    readonly records: readonly { readonly sealed: Buffer; readonly record: CheckpointRecord }[];
  } {
    const confirmed = this.#entries.filter(
      ({ record }) => this.#confirmedCounter !== null && record.counter <= this.#confirmedCounter,
    );
    const index = this.#entries.findIndex(
      (entry) => databaseCheckpoint !== null && entry.sealed.equals(databaseCheckpoint),
    );
    const oldest = this.#entries.at(-1)?.record;
    // Covered when the ring holds the database's checkpoint, or when its oldest record is the very
    // next one (its MACed link names the checkpoint's digest): nothing is missing in between.
    const followsCheckpoint =
      databaseCheckpoint !== null && oldest?.previous === checkpointDigest(databaseCheckpoint);
    const covered =
      index >= 0 ||
      followsCheckpoint ||
      (databaseCheckpoint === null && (oldest === undefined || oldest.counter === 1));
    const after =
      index >= 0
        ? confirmed.filter(({ record }) => record.counter > (this.#entries[index]?.record.counter ?? 0))
        : confirmed;
    return { covered, records: [...after].reverse() };
  }

  /** Drops the newest records (auto-recovery) durably and returns the transactions they held. */
  async discardNewest(count: number): Promise<DiscardedTransaction[]> {
    const discarded = this.#entries
      .slice(0, count)
      .flatMap(({ record }) =>
        record.transactions.map((entry) => ({ ...entry, counter: record.counter, at: record.at })),
      );
    await this.#save(this.#entries.slice(count), this.#confirmedCounter);
    return discarded;
  }

  /**
   * Adds a record durably; the oldest falls off when the ring is full. The record before it is
   * confirmed by now: a module moves past a record only once the database holds it.
   */
  async push(sealed: Buffer, record: CheckpointRecord): Promise<void> {
    const previous = this.#entries[0]?.record.counter;
    const confirmed = Math.max(previous ?? 0, this.#confirmedCounter ?? 0);
    await this.#save([{ sealed, record }, ...this.#entries].slice(0, this.#size), confirmed || null);
  }

  /**
   * Records, durably, that the database committed the newest record: from now on a database
   * without it was rolled back after its value left, and the module inhibits instead of
   * discarding it. Written after the commit and before anything of the record is released.
   */
  async confirm(counter: number): Promise<void> {
    const newest = this.#entries[0]?.record.counter;
    if (newest !== counter) {
      throw new VaultError(
        'vault.wrong_state',
        `Only the newest record can be confirmed; record ${counter} was given, the newest is ${newest ?? 'none'}.`,
      );
    }
    if (this.#confirmedCounter !== null && this.#confirmedCounter >= counter) return;
    await this.#save(this.#entries, counter);
  }

  /** Restarts the ring from one verified checkpoint (or empty): the operator's re-anchoring. */
  async restartFrom(sealed: Buffer | null): Promise<void> {
    if (sealed === null) {
      await this.#save([], null);
      return;
    }
    const record = await openCheckpoint(this.#backend, sealed);
    await this.#save([{ sealed, record }], record.counter);
  }

  async #save(entries: RingEntry[], confirmedCounter: number | null): Promise<void> {
    await this.#backend.writeRing(
      await encodeRing(
        this.#backend,
        entries.map((entry) => entry.sealed),
        confirmedCounter,
      ),
    );
    this.#entries = entries;
    this.#confirmedCounter = confirmedCounter;
    this.#isLoaded = true;
  }
}
