import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { PageStream } from './pdf-document.ts';
import { type RenderJob, renderJob } from './render-job.ts';

interface Pending {
  readonly resolve: (bytes: Buffer) => void;
  readonly reject: (error: Error) => void;
}

interface RenderThread {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

/**
 * Label rendering off the event loop, on every core: a DataMatrix takes bwip-js about 2 ms to
 * encode, so labels are drawn by a pool of worker threads (one a core) while the server goes on
 * answering. Jobs go to the thread with the fewest waiting. `threads: 0` renders in process (and
 * so does a pool whose threads cannot start).
 */
export class RenderPool {
  private readonly threads: RenderThread[] = [];
  private readonly size: number;
  private next = 0;
  /** A thread failed (it could not start, or crashed): from then on labels render in process. */
  private isBroken = false;

  constructor(options: { threads?: number } = {}) {
    this.size = options.threads ?? availableParallelism();
  }

  /** Renders a job to its file's bytes. */
  async render(job: RenderJob): Promise<Buffer> {
    const thread = this.thread();
    if (thread === undefined) return renderJob(job);
    const id = (this.next += 1);
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        thread.pending.set(id, { resolve, reject });
        thread.worker.ref();
        thread.worker.postMessage({ id, job });
      });
    } catch (error) {
      // The thread died under the job, not the job's own failure: draw it here instead.
      if (this.isBroken) return renderJob(job);
      throw error;
    }
  }

  /** A label page for a PDF written here (a mailing list's): its size and deflated drawing. */
  async pageStream(job: Omit<RenderJob, 'output'>): Promise<PageStream> {
    const bytes = await this.render({ ...job, output: 'stream' });
    return { width: bytes.readDoubleBE(0), height: bytes.readDoubleBE(8), content: bytes.subarray(16) };
  }

  async close(): Promise<void> {
    const threads = this.threads.splice(0);
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
  }

  private thread(): RenderThread | undefined {
    if (this.size === 0 || this.isBroken) return undefined;
    if (this.threads.length < this.size) this.threads.push(this.start());
    let best: RenderThread | undefined;
    for (const thread of this.threads)
      if (best === undefined || thread.pending.size < best.pending.size) best = thread;
    return best;
  }

  private start(): RenderThread {
    const worker = new Worker(new URL('./render-worker.ts', import.meta.url));
    const pending = new Map<number, Pending>();
    worker.on('message', (message: { id: number; bytes?: Uint8Array; error?: string }) => {
      const waiting = pending.get(message.id);
      if (waiting === undefined) return;
      pending.delete(message.id);
      if (pending.size === 0) worker.unref();
      if (message.bytes === undefined)
        waiting.reject(new Error(message.error ?? 'the label could not be rendered'));
      else
        waiting.resolve(
          Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.byteLength),
        );
    });
    const fail = (error: Error): void => {
      this.isBroken = true;
      for (const waiting of pending.values()) waiting.reject(error);
      pending.clear();
      const index = this.threads.findIndex((thread) => thread.worker === worker);
      if (index !== -1) this.threads.splice(index, 1);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (pending.size > 0) fail(new Error(`a label render thread stopped (exit ${code})`));
    });
    worker.unref();
    return { worker, pending };
  }
}
