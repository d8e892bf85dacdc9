import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Kysely } from 'kysely';
import { auditHash, genesisHash } from '../../src/audit/index.ts';
import type { DatabaseSchema } from '../../src/store/index.ts';
import { type Logger, createLogger } from '../../src/telemetry/index.ts';
import { type ModulePool, openCryptoModules } from '../../src/vault/index.ts';

/** A software module pool of an installation of its own (its own keys). */
export async function openTestPool(modules = 1): Promise<ModulePool> {
  const vaultDir = mkdtempSync(join(tmpdir(), 'indicia-audit-'));
  const opened = await openCryptoModules(
    { backend: 'software', vaultDir, kek: randomBytes(32) },
    { modules, ringSize: 3, inhibitThreshold: 1 },
  );
  return opened.pool;
}

/** A logger whose lines (parsed) the test can read. */
export function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk
        .toString()
        .split('\n')
        .filter((text) => text !== ''))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines: () => lines };
}

/**
 * What an insider with write access to the database can do: change one event's details with plain
 * SQL, then recompute that chain's SHA-256 hashes from there to the end, and its head row.
 */
export async function rewriteChain(
  db: Kysely<DatabaseSchema>,
  chain: string,
  sequence: number,
  change: (details: Record<string, unknown>) => Record<string, unknown>,
): Promise<void> {
  const rows = await db
    .selectFrom('audit_events')
    .selectAll()
    .where('chain', '=', chain)
    .orderBy('sequence')
    .execute();
  let previousHash = genesisHash(chain);
  for (const row of rows) {
    let details = JSON.parse(row.details) as Record<string, unknown>;
    if (row.sequence === sequence) details = change(details);
    const event = {
      sequence: row.sequence,
      at: row.at,
      kind: row.kind,
      moduleSerial: row.module_serial,
      meterId: row.meter_id,
      details,
    };
    const hash = auditHash(previousHash, event);
    if (row.sequence >= sequence)
      await db
        .updateTable('audit_events')
        .set({ details: JSON.stringify(details), previous_hash: previousHash, hash })
        .where('chain', '=', chain)
        .where('sequence', '=', row.sequence)
        .execute();
    previousHash = hash;
  }
  await db.updateTable('audit_heads').set({ hash: previousHash }).where('chain', '=', chain).execute();
}
