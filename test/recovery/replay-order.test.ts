import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ShippedRecord } from '../../src/log-shipping/index.ts';
import { replayOrder } from '../../src/recovery/index.ts';

/** A shipped record whose (unverified) sealed body moves `moves` (meter, type, version made). */
function shipped(
  module: string,
  counter: number,
  recordedAt: string,
  moves: readonly [meterId: string, type: string, packageSequence: number][],
): ShippedRecord {
  const body = Buffer.from(
    JSON.stringify({
      moduleSerial: module,
      counter,
      transactions: moves.map(([meterId, type, packageSequence]) => ({ meterId, type, packageSequence })),
    }),
  );
  const length = Buffer.alloc(2);
  length.writeUInt16BE(body.length);
  const sealed = Buffer.concat([Buffer.from('ICKP'), length, body, Buffer.alloc(32)]);
  return {
    module,
    counter,
    previous: null,
    digest: `${module}:${counter}`,
    sealed: sealed.toString('base64'),
    recordedAt,
    packages: [],
    statements: [],
  };
}

const names = (records: readonly ShippedRecord[]): string[] =>
  records.map((record) => `${record.module}:${record.counter}`);

describe('replay order across modules', () => {
  it("follows the meters' package versions where two servers' clocks disagree", () => {
    // Server B's clock runs a minute behind: its record of meter M (version 6 → 7) carries an
    // earlier time than server A's record that made version 6.
    const records = [
      shipped('B', 1, '2026-12-04T10:00:00.000Z', [['M', 'debit', 7]]),
      shipped('A', 1, '2026-12-04T10:00:30.000Z', [['M', 'debit', 6]]),
      shipped('B', 2, '2026-12-04T10:00:01.000Z', [['N', 'debit', 3]]),
    ];
    assert.deepEqual(
      names(
        replayOrder(
          records,
          new Map([
            ['M', 5],
            ['N', 2],
          ]),
        ),
      ),
      ['A:1', 'B:1', 'B:2'],
    );
  });

  it("keeps each module's own order, and otherwise the commit time", () => {
    const records = [
      shipped('A', 1, '2026-12-04T10:00:02.000Z', [['M', 'debit', 2]]),
      shipped('B', 1, '2026-12-04T10:00:01.000Z', [['N', 'debit', 2]]),
      shipped('A', 2, '2026-12-04T10:00:00.000Z', [['P', 'create', 1]]),
      shipped('B', 2, '2026-12-04T10:00:03.000Z', [
        ['P', 'fund', 2],
        ['P', 'debit', 3],
      ]),
    ];
    assert.deepEqual(
      names(
        replayOrder(
          records,
          new Map([
            ['M', 1],
            ['N', 1],
          ]),
        ),
      ),
      ['B:1', 'A:1', 'A:2', 'B:2'],
    );
  });

  it('puts what cannot fit in commit-time order, for the module to name', () => {
    const records = [
      shipped('A', 1, '2026-12-04T10:00:01.000Z', [['M', 'debit', 9]]),
      shipped('B', 1, '2026-12-04T10:00:00.000Z', [['N', 'debit', 4]]),
    ];
    assert.deepEqual(
      names(
        replayOrder(
          records,
          new Map([
            ['M', 5],
            ['N', 1],
          ]),
        ),
      ),
      ['B:1', 'A:1'],
    );
  });
});
