import type { Kysely } from 'kysely';
import type { DatabaseSchema } from '../store/index.ts';
import type { CheckpointRecord } from '../vault/index.ts';
import type { AuditEvent } from './audit-log.ts';

const CACHED_RECORDS = 64;

/**
 * A cross-check for `verifyAuditLog`: each `psd.*` event must say what the protected module log
 * says about its transaction. The event names its module (moduleSerial), the record (details
 * moduleCounter) and the package version (packageSequence); that record, opened inside a module
 * by `open` (its MAC checked), must hold a transaction of that meter and version with the same
 * type, amount and registers. Events older than a module's first logged record (the module log
 * began in 0011 at each module's then checkpoint) cannot be checked and pass.
 *
 * @example crossCheck: moduleLogCrossCheck(db, (sealed) => module.verifyCheckpoint(sealed))
 */
export function moduleLogCrossCheck(
  db: Kysely<DatabaseSchema>,
  open: (sealed: Buffer) => Promise<CheckpointRecord>,
): (event: AuditEvent) => Promise<string | null> {
  const opened = new Map<string, Promise<CheckpointRecord | string>>();
  const firstCounter = new Map<string, Promise<number | null>>();
  const earliest = (serial: string): Promise<number | null> => {
    let known = firstCounter.get(serial);
    if (known === undefined) {
      known = db
        .selectFrom('module_log')
        .select((eb) => eb.fn.min('counter').as('first'))
        .where('module_serial', '=', serial)
        .executeTakeFirst()
        .then((row) => row?.first ?? null);
      firstCounter.set(serial, known);
    }
    return known;
  };
  const record = (serial: string, counter: number): Promise<CheckpointRecord | string> => {
    const key = `${serial}#${counter}`;
    let found = opened.get(key);
    if (found === undefined) {
      found = (async () => {
        const row = await db
          .selectFrom('module_log')
          .select('sealed')
          .where('module_serial', '=', serial)
          .where('counter', '=', counter)
          .executeTakeFirst();
        if (row === undefined) return `module ${serial}'s record ${counter} is not in the module log`;
        try {
          return await open(Buffer.from(row.sealed, 'base64'));
        } catch {
          return `module ${serial}'s record ${counter} in the module log is not authentic`;
        }
      })();
      opened.set(key, found);
      if (opened.size > CACHED_RECORDS) opened.delete(opened.keys().next().value as string);
    }
    return found;
  };
  return async (event) => {
    const { details } = event;
    const counter = details['moduleCounter'];
    const packageSequence = details['packageSequence'];
    const serial = event.moduleSerial;
    if (serial === null || typeof counter !== 'number' || typeof packageSequence !== 'number')
      return 'it does not name its module, module record (moduleCounter) and package version (packageSequence)';
    const first = await earliest(serial);
    if (first === null || counter < first) return null;
    const logged = await record(serial, counter);
    if (typeof logged === 'string') return logged;
    const entry = logged.transactions.find(
      (candidate) => candidate.meterId === event.meterId && candidate.packageSequence === packageSequence,
    );
    if (entry === undefined)
      return `module ${serial}'s record ${counter} holds no transaction of meter ${event.meterId ?? '?'} at package version ${packageSequence}`;
    const differences: string[] = [];
    if (event.kind !== `psd.${entry.type}`) differences.push(`the type is ${entry.type}, not ${event.kind}`);
    for (const field of ['amountMills', 'ascendingRegisterMills', 'descendingRegisterMills'] as const) {
      if (details[field] !== entry[field])
        differences.push(
          `${field} is ${entry[field]} in the module log, ${String(details[field])} in the event`,
        );
    }
    return differences.length === 0 ? null : differences.join('; ');
  };
}
