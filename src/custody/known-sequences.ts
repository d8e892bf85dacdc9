import { VaultError } from '../vault/index.ts';

/** Meters whose newest committed package version this process remembers (oldest forgotten first). */
const KNOWN_SEQUENCES = 1_000_000;

/**
 * The newest package version of each meter this process saw committed or read in the module log:
 * a row older than that was put back, and is refused before the module signs from it.
 */
export class KnownSequences {
  readonly #sequences = new Map<string, number>();

  remember(meterId: string, sequence: number): void {
    if ((this.#sequences.get(meterId) ?? -1) > sequence) return;
    this.#sequences.delete(meterId);
    this.#sequences.set(meterId, sequence);
    if (this.#sequences.size > KNOWN_SEQUENCES) {
      const oldest = this.#sequences.keys().next();
      if (oldest.done !== true) this.#sequences.delete(oldest.value);
    }
  }

  /** The refusal for a stored row older than a version committed earlier, or null. */
  replayedRow(meterId: string, sequence: number): VaultError | null {
    const known = this.#sequences.get(meterId);
    if (known === undefined || sequence >= known) return null;
    return new VaultError(
      'vault.package_replayed',
      `Meter ${meterId}'s package in the database is version ${sequence}, but version ${known} was committed: an earlier version of the package was put back. The meter is refused until an operator investigates.`,
      { details: { meterId, databaseSequence: sequence, committedSequence: known } },
    );
  }

  clear(): void {
    this.#sequences.clear();
  }
}
