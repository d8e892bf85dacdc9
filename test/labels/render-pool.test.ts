import assert from 'node:assert/strict';
import type { Worker } from 'node:worker_threads';
import { describe, it } from 'node:test';
import { RenderPool, sampleIndicium } from '../../src/labels/index.ts';
import type { Mills } from '../../src/money/index.ts';

const indicium = sampleIndicium({
  algorithm: 'ecdsa-p256',
  certificateSerial: 1n,
  manufacturerId: '42',
  modelId: '1D',
  psdSerial: 7,
  ascendingRegister: 0 as Mills,
  postage: 730 as Mills,
  date: '2026-11-23',
  originZip: '10118',
  userId: 1,
  softwareId: 1,
  labelSerial: 0,
  descendingRegister: 0 as Mills,
  rateCategory: 'FC',
});

describe('render pool', () => {
  it('draws labels on worker threads, the same bytes as in process', async () => {
    const pool = new RenderPool({ threads: 2 });
    try {
      const job = { layout: 'indicium' as const, contents: [{ indicium }], output: 'svg' as const };
      const [first, second] = await Promise.all([pool.render(job), pool.render(job)]);
      const inProcess = await new RenderPool({ threads: 0 }).render(job);
      assert.ok(first.equals(inProcess) && second.equals(inProcess));
      const stream = await pool.pageStream({ layout: 'envelope-10', contents: [{ indicium }] });
      assert.deepEqual([stream.width, stream.height], [684, 297]);
    } finally {
      await pool.close();
    }
  });

  it('renders in process once a thread fails, and passes a job’s own error on', async () => {
    const pool = new RenderPool({ threads: 1 });
    try {
      const job = { layout: 'indicium' as const, contents: [{ indicium }], output: 'zpl' as const };
      await pool.render(job);
      await assert.rejects(
        pool.render({ layout: 'indicium', contents: [{ indicium: Buffer.alloc(3) }], output: 'pdf' }),
        /indicium|length|bytes/i,
        'a bad job fails on its own; the thread lives on',
      );
      const threads = (pool as unknown as { threads: { worker: Worker }[] }).threads;
      threads[0]?.worker.emit('error', new Error('the thread crashed'));
      assert.ok((await pool.render(job)).toString().startsWith('^XA'), 'drawn in process');
    } finally {
      await pool.close();
    }
  });
});
