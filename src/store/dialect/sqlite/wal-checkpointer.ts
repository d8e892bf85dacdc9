import { Worker } from 'node:worker_threads';

/** A background WAL checkpointer, stopped with the store. */
export interface WalCheckpointer {
  stop(): Promise<void>;
}

/**
 * Moves WAL checkpoints off the event loop: a worker thread with its own connection checkpoints
 * the file every `intervalMs`, so a commit never stops to copy the WAL back into the database
 * (SQLite's automatic checkpoint runs inside the committing call, and ours is synchronous). The
 * writer keeps a high automatic-checkpoint threshold as a backstop should the worker stall.
 */
export function startWalCheckpointer(file: string, intervalMs = 100): WalCheckpointer {
  const worker = new Worker(new URL('./wal-checkpoint-worker.ts', import.meta.url), {
    workerData: { file, intervalMs },
  });
  worker.unref();
  // A failed round is retried by the next; the backstop threshold bounds the WAL meanwhile.
  worker.on('message', () => undefined);
  worker.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    async stop() {
      // Held while it finishes, or the process could end with the stop still pending.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
