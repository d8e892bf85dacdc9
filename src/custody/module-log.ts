import type { Kysely } from 'kysely';
import { type Mills, add } from '../money/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import { type CheckpointRecord, checkpointDigest } from '../vault/index.ts';

/** The newest version of one meter's package the protected module log holds. */
export interface LoggedPackage {
  readonly meterId: string;
  readonly packageSequence: number;
  readonly ascendingRegisterMills: Mills;
  readonly descendingRegisterMills: Mills;
  readonly moduleSerial: string;
  readonly counter: number;
}

/** A meter whose package in the database is not the newest version the module log holds. */
export interface PackageMismatch {
  readonly meterId: string;
  /** The psd_packages row's version, or null when the row is gone. */
  readonly databaseSequence: number | null;
  readonly logged: LoggedPackage;
  readonly reason: string;
}

export interface ModuleLogReport {
  /** Records checked (MAC, counter, link). */
  readonly records: number;
  /** Each module's log problem, in words (a forged or missing record, a broken link): empty when intact. */
  readonly chainProblems: readonly string[];
  readonly mismatches: readonly PackageMismatch[];
  /** Per meter, the newest logged version. */
  readonly newest: ReadonlyMap<string, LoggedPackage>;
  /** Σ over modules of their newest record's running totals. */
  readonly totals: { readonly printedMills: Mills; readonly refundedMills: Mills };
}

const PAGE = 2_000;

/**
 * Reads the protected module log (module_log) from its start and checks it: every record opens
 * under the modules' checkpoint MAC key (`open` does that inside a module), counters run without
 * a gap, each record names the digest of the one before, and each module's last record is the
 * checkpoint the module table holds. Then every meter's package must be the newest version the
 * log holds: an older one was put back (a replayed row), a newer one never went through a module.
 * An insider can delete rows or put old ones back, but cannot make a record the log accepts.
 */
export async function verifyModuleLog(
  db: Kysely<DatabaseSchema>,
  open: (sealed: Buffer) => Promise<CheckpointRecord>,
): Promise<ModuleLogReport> {
  const chainProblems: string[] = [];
  const newest = new Map<string, LoggedPackage>();
  const lastOf = new Map<string, { counter: number; digest: string; record: CheckpointRecord }>();
  let records = 0;
  let after: { serial: string; counter: number } | null = null;
  for (;;) {
    let query = db
      .selectFrom('module_log')
      .select(['module_serial', 'counter', 'previous_digest', 'digest', 'sealed'])
      .orderBy('module_serial')
      .orderBy('counter')
      .limit(PAGE);
    if (after !== null) {
      const { serial, counter } = after;
      query = query.where((eb) =>
        eb.or([
          eb('module_serial', '>', serial),
          eb.and([eb('module_serial', '=', serial), eb('counter', '>', counter)]),
        ]),
      );
    }
    const rows = await query.execute();
    for (const row of rows) {
      records += 1;
      const counter = row.counter;
      const sealed = Buffer.from(row.sealed, 'base64');
      const where = `module ${row.module_serial}, record ${counter}`;
      let record: CheckpointRecord;
      try {
        record = await open(sealed);
      } catch {
        chainProblems.push(`${where} is not authentic: its MAC does not verify`);
        continue;
      }
      if (
        record.moduleSerial !== row.module_serial ||
        record.counter !== counter ||
        checkpointDigest(sealed) !== row.digest
      ) {
        chainProblems.push(`${where} does not say what its row says (serial, counter or digest)`);
        continue;
      }
      const previous = lastOf.get(row.module_serial);
      if (previous !== undefined) {
        if (counter !== previous.counter + 1)
          chainProblems.push(
            `${where} follows record ${previous.counter}: ${counter - previous.counter - 1} record(s) are missing`,
          );
        else if (record.previous !== undefined && record.previous !== previous.digest)
          chainProblems.push(`${where} does not link to record ${previous.counter} before it`);
      }
      lastOf.set(row.module_serial, { counter, digest: row.digest, record });
      for (const entry of record.transactions) {
        const known = newest.get(entry.meterId);
        if (known === undefined || entry.packageSequence >= known.packageSequence) {
          newest.set(entry.meterId, {
            meterId: entry.meterId,
            packageSequence: entry.packageSequence,
            ascendingRegisterMills: entry.ascendingRegisterMills,
            descendingRegisterMills: entry.descendingRegisterMills,
            moduleSerial: record.moduleSerial,
            counter: record.counter,
          });
        }
      }
    }
    const last = rows.at(-1);
    if (last === undefined || rows.length < PAGE) break;
    after = { serial: last.module_serial, counter: last.counter };
  }
  const modules = await db.selectFrom('crypto_modules').select(['serial', 'checkpoint']).execute();
  let printedMills = 0 as Mills;
  let refundedMills = 0 as Mills;
  for (const module of modules) {
    const last = lastOf.get(module.serial);
    if (module.checkpoint === null) continue;
    const digest = checkpointDigest(Buffer.from(module.checkpoint, 'base64'));
    if (last === undefined) {
      chainProblems.push(`module ${module.serial} has a checkpoint but no record in the module log`);
      continue;
    }
    if (last.digest !== digest)
      chainProblems.push(
        `module ${module.serial}'s checkpoint in the module table is not the last record of its log (record ${last.counter})`,
      );
    printedMills = add(printedMills, last.record.totals.printedMills);
    refundedMills = add(refundedMills, last.record.totals.refundedMills);
  }
  const packages = await db.selectFrom('psd_packages').select(['meter_id', 'sequence']).execute();
  const stored = new Map(packages.map((row) => [row.meter_id, row.sequence]));
  const mismatches: PackageMismatch[] = [];
  for (const logged of newest.values()) {
    const sequence = stored.get(logged.meterId) ?? null;
    if (sequence === logged.packageSequence) continue;
    const made = `module ${logged.moduleSerial} made version ${logged.packageSequence} (record ${logged.counter}, AR ${logged.ascendingRegisterMills}, DR ${logged.descendingRegisterMills})`;
    mismatches.push({
      meterId: logged.meterId,
      databaseSequence: sequence,
      logged,
      reason:
        sequence === null
          ? `its package is missing from the database, but ${made}`
          : sequence < logged.packageSequence
            ? `its package in the database is version ${sequence}, but ${made}: an earlier version was put back`
            : `its package in the database is version ${sequence}, newer than any version a module logged (${made})`,
    });
  }
  return { records, chainProblems, mismatches, newest, totals: { printedMills, refundedMills } };
}
