import { randomFillSync } from 'node:crypto';

/** Random bytes fetched 4 KiB at a time: one system call per 512 ids, not one per id. */
const random = Buffer.alloc(4096);
let randomOffset = random.length;
let lastMillisecond = 0;
let counter = 0;

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, a 12-bit counter that keeps ids made
 * in the same millisecond in order (method 1 of §6.2), and 62 random bits. Ids made one after
 * another sort in the order they were made, so a table keyed by them grows at its end instead of
 * touching a random index page per row (a random UUID dirtied one 4 KiB page per indicium).
 *
 * @example timeOrderedUuid() // '019ab2c4-5e6f-7000-8a1b-2c3d4e5f6a7b'
 */
export function timeOrderedUuid(now: number = Date.now()): string {
  if (now > lastMillisecond) {
    lastMillisecond = now;
    counter = 0;
  } else {
    // Same millisecond (or a clock step back): count on; past 4,095 borrow the next millisecond.
    counter += 1;
    if (counter > 0xfff) {
      lastMillisecond += 1;
      counter = 0;
    }
  }
  if (randomOffset + 8 > random.length) {
    randomFillSync(random);
    randomOffset = 0;
  }
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(lastMillisecond, 0, 6);
  bytes.writeUInt16BE(0x7000 | counter, 6);
  random.copy(bytes, 8, randomOffset, randomOffset + 8);
  // Used bytes are wiped so no two ids share them.
  random.fill(0, randomOffset, randomOffset + 8);
  randomOffset += 8;
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
