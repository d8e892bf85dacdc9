import { parentPort } from 'node:worker_threads';
import { type RenderJob, renderJob } from './render-job.ts';

// A label render thread: takes jobs, answers with the bytes (moved, not copied) or the error.
parentPort?.on('message', (message: { id: number; job: RenderJob }) => {
  try {
    // Buffers arrive as plain Uint8Arrays: the indicium's bytes are read as a Buffer.
    const contents = message.job.contents.map((content) => ({
      ...content,
      indicium: Buffer.from(content.indicium),
    }));
    const bytes = renderJob({ ...message.job, contents });
    const copy = new Uint8Array(bytes);
    parentPort?.postMessage({ id: message.id, bytes: copy }, [copy.buffer]);
  } catch (error) {
    parentPort?.postMessage({
      id: message.id,
      error: error instanceof Error ? error.message : String(error),
    });
  }
});
