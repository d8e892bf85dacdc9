import {
  type AuditProblem,
  type AuditVerification,
  anchorMacs,
  moduleLogCrossCheck,
  verifyAuditLog,
} from '../audit/index.ts';
import type { ModuleLogReport } from '../custody/index.ts';
import { withOperatorServices } from '../installation/index.ts';
import { type CommandIo, UsageError, parseSubcommand } from './commands.ts';

export const AUDIT_USAGE = [
  'indicia audit verify [--from N]     check the audit log: every chain by its SHA-256 hashes, every anchor',
  '                                    by its MAC in a crypto module, psd events against the module log,',
  '                                    and the module log itself; names the first bad record (exit 1);',
  '                                    --from N starts at verified anchor N instead of the beginning',
].join('\n');

/** Problems listed one line each; the rest are counted. */
const LISTED_PROBLEMS = 20;

function problemLine(problem: AuditProblem): string {
  const where =
    problem.chain === null
      ? `anchor ${problem.anchor ?? '?'}`
      : `chain ${problem.chain}, record ${problem.sequence ?? '?'}${problem.through === null ? '' : ` to ${problem.through}`}`;
  return `${where} (${problem.reason}): ${problem.message}`;
}

function report(io: CommandIo, audit: AuditVerification, log: ModuleLogReport): boolean {
  const anchors =
    audit.anchors === 0
      ? 'no anchors yet'
      : `anchors ${audit.firstAnchor ?? '?'} to ${audit.newestAnchor ?? '?'} (${audit.anchors}) checked`;
  io.write(
    `audit log: ${audit.records} record(s) in ${audit.chains} chain(s) checked; ${anchors}; ${audit.crossChecked} psd event(s) cross-checked with the module log; ${audit.unanchored} event(s) not yet anchored\n`,
  );
  io.write(`module log: ${log.records} record(s) checked\n`);
  const logProblems = [
    ...log.chainProblems,
    ...log.mismatches.map((mismatch) => `meter ${mismatch.meterId}: ${mismatch.reason}`),
  ];
  if (audit.firstProblem !== null) io.write(`first bad record: ${problemLine(audit.firstProblem)}\n`);
  for (const problem of audit.problems.slice(1, LISTED_PROBLEMS))
    io.write(`  also: ${problemLine(problem)}\n`);
  if (audit.problemCount > LISTED_PROBLEMS)
    io.write(`  and ${audit.problemCount - LISTED_PROBLEMS} more problem(s)\n`);
  for (const problem of logProblems) io.write(`module log: ${problem}\n`);
  const isIntact = audit.isIntact && logProblems.length === 0;
  io.write(
    isIntact
      ? 'intact\n'
      : `NOT INTACT: ${audit.problemCount} audit log and ${logProblems.length} module log problem(s); see docs/operations.md "Verifying the audit log"\n`,
  );
  return isIntact;
}

/** `indicia audit verify [--from N]`, on the operator's crypto module (it runs beside a live server). */
export async function auditCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand !== 'verify')
    throw new UsageError(`unknown audit command "${subcommand ?? ''}"; use: indicia audit verify [--from N]`);
  const { values, config } = parseSubcommand(rest, { from: { type: 'string' } }, io, {
    allowPositionals: false,
  });
  const fromText = values['from'];
  let from: number | undefined;
  if (typeof fromText === 'string') {
    if (!/^[1-9][0-9]{0,14}$/.test(fromText))
      throw new UsageError(`--from takes an anchor number (1, 2, …), not "${fromText}"`);
    from = Number(fromText);
  }
  return withOperatorServices(config, async ({ store, pool, custody }) => {
    const macs = anchorMacs((work) => pool.withModule(work));
    const audit = await verifyAuditLog(store.db, {
      verifyMac: macs.verify,
      crossCheck: moduleLogCrossCheck(store.db, (sealed) =>
        pool.withModule((module) => module.verifyCheckpoint(sealed)),
      ),
      ...(from === undefined ? {} : { from }),
    });
    const log = await custody.verifyModuleLog();
    return report(io, audit, log) ? 0 : 1;
  });
}
