import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupQueue } from './group-queue.ts';

const job = (meterId: string, label: string) => ({ meterIds: [meterId], label });

describe('GroupQueue', () => {
  it('takes jobs oldest first up to the limit, keeping each meter’s jobs in order', () => {
    const queue = new GroupQueue<{ meterIds: string[]; label: string }>();
    for (const [meterId, label] of [
      ['A', 'a1'],
      ['B', 'b1'],
      ['A', 'a2'],
      ['C', 'c1'],
      ['B', 'b2'],
    ] as const)
      queue.push(job(meterId, label));
    // The limit leaves b2 behind; nothing of B after it may jump ahead later.
    const group = queue.take(4);
    assert.deepEqual(
      group.map((entry) => entry.label),
      ['a1', 'b1', 'a2', 'c1'],
    );
    // B is in flight: its next job waits until the group is released.
    assert.equal(queue.hasReady, false);
    assert.deepEqual(queue.take(10), []);
    queue.release(group);
    assert.deepEqual(
      queue.take(10).map((entry) => entry.label),
      ['b2'],
    );
  });

  it('holds back a meter’s later jobs once one of them stays behind', () => {
    const queue = new GroupQueue<{ meterIds: string[]; label: string }>();
    queue.push(job('A', 'a1'));
    const inFlight = queue.take(1);
    queue.push(job('A', 'a2'));
    queue.push(job('B', 'b1'));
    queue.push(job('A', 'a3'));
    assert.deepEqual(
      queue.take(10).map((entry) => entry.label),
      ['b1'],
    );
    assert.deepEqual(
      queue.takeAllReady().map((entry) => entry.label),
      [],
    );
    queue.release(inFlight);
    assert.deepEqual(
      queue.takeAllReady().map((entry) => entry.label),
      ['a2', 'a3'],
    );
  });

  it('runs a job on two meters only when both are free, and keeps both meters’ order', () => {
    const queue = new GroupQueue<{ meterIds: string[]; label: string }>();
    queue.push(job('A', 'a1'));
    const inFlight = queue.take(1);
    queue.push({ meterIds: ['A', 'B'], label: 'transfer' });
    queue.push(job('B', 'b1'));
    queue.push(job('C', 'c1'));
    assert.deepEqual(
      queue.take(10).map((entry) => entry.label),
      ['c1'],
    );
    queue.release(inFlight);
    assert.deepEqual(
      queue.take(10).map((entry) => entry.label),
      ['transfer', 'b1'],
    );
  });
});
