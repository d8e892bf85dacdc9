import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Damages software module n's checkpoint memory the way a bad disk would: a whole, well-framed
 * ring slot (ring-slots.ts: magic, generation, length, bytes, SHA-256) whose bytes are not a ring
 * the module sealed. The module inhibits itself (cause `module`) when it next takes the user role.
 */
export function damageRing(vaultDir: string, moduleNumber: number): void {
  const folder = join(vaultDir, 'modules', String(moduleNumber));
  mkdirSync(folder, { recursive: true });
  const bytes = Buffer.from('not a ring this module sealed');
  const header = Buffer.alloc(16);
  Buffer.from('IRS1').copy(header, 0);
  header.writeBigUInt64BE(1_000_000n, 4);
  header.writeUInt32BE(bytes.length, 12);
  const checksum = createHash('sha256').update(header).update(bytes).digest();
  writeFileSync(join(folder, 'ring-slot-a.bin'), Buffer.concat([header, bytes, checksum]));
}
