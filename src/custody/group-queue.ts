/** Something to do to one or more meters (a transfer touches two). */
export interface MeterJob {
  readonly meterIds: readonly string[];
}

/**
 * Waiting commands, formed into groups for group commit: first come first served, commands on one
 * meter keep their order, and a meter is in at most one group at a time (a second group would
 * start from a package the first is about to replace).
 */
export class GroupQueue<Job extends MeterJob> {
  #waiting: Job[] = [];
  readonly #inFlight = new Set<string>();

  get size(): number {
    return this.#waiting.length;
  }

  push(job: Job): void {
    this.#waiting.push(job);
  }

  /** Whether some waiting job's meter is free. */
  get hasReady(): boolean {
    return this.#waiting.some((job) => this.#isFree(job));
  }

  /** Takes up to `limit` ready jobs, oldest first, and marks their meters in flight. */
  take(limit: number): Job[] {
    const group: Job[] = [];
    const left: Job[] = [];
    // Once one of a meter's jobs stays behind, its later jobs stay too: their order is kept.
    const heldBack = new Set(this.#inFlight);
    for (const job of this.#waiting) {
      if (group.length < limit && !job.meterIds.some((meterId) => heldBack.has(meterId))) {
        group.push(job);
      } else {
        left.push(job);
        for (const meterId of job.meterIds) heldBack.add(meterId);
      }
    }
    this.#waiting = left;
    for (const job of group) for (const meterId of job.meterIds) this.#inFlight.add(meterId);
    return group;
  }

  /** The group's meters are free again. */
  release(group: readonly Job[]): void {
    for (const job of group) for (const meterId of job.meterIds) this.#inFlight.delete(meterId);
  }

  /** Removes and returns every waiting job whose meter is free (to refuse them all at once). */
  takeAllReady(): Job[] {
    const ready = this.#waiting.filter((job) => this.#isFree(job));
    this.#waiting = this.#waiting.filter((job) => !this.#isFree(job));
    return ready;
  }

  #isFree(job: Job): boolean {
    return job.meterIds.every((meterId) => !this.#inFlight.has(meterId));
  }
}
