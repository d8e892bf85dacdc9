import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Kysely } from 'kysely';
import {
  type AuditAnchor,
  type ChainPosition,
  type RecordMacs,
  type RecordProblem,
  anchorsBetween,
  appendAuditEvents,
  chainHeads,
  checkAnchor,
  genesisOf,
  newestAnchor,
  walkChain,
  writeAnchor,
} from '../audit/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import type { Logger, ServerMetrics } from '../telemetry/index.ts';
import type { JobCoordinator } from './job-lease.ts';
import { startJobRunner } from './job-runner.ts';

export type AnchorRun =
  | { readonly kind: 'anchored'; readonly anchor: number; readonly chains: number }
  /** No chain moved since the newest anchor. */
  | { readonly kind: 'unchanged'; readonly anchor: number | null }
  /** Another server stored the next anchor first (it ran while this one's lease had lapsed); this one was dropped. */
  | { readonly kind: 'raced' }
  | { readonly kind: 'stopped'; readonly reason: string };

export interface AuditAnchorJob {
  /** Verifies what was written since the newest anchor, then anchors it (what the timer calls). */
  runOnce(): Promise<AnchorRun>;
  /** Why the writer stopped (a segment that does not verify), or null while it anchors. */
  readonly stoppedReason: string | null;
  /** Stops the timer and (unless told otherwise) writes a last anchor: shutdown. */
  stop(options?: { readonly isFinalAnchor?: boolean }): Promise<void>;
}

/**
 * Checks what changed since `since` (the newest anchor, or genesis): every chain from the head
 * the anchor names up to its head row now, hash by hash, and no chain the anchor named gone.
 */
async function verifySegment(
  db: Kysely<DatabaseSchema>,
  since: AuditAnchor | null,
  heads: ReadonlyMap<string, ChainPosition>,
): Promise<RecordProblem[]> {
  const problems: RecordProblem[] = [];
  const anchored = new Map((since?.record.heads ?? []).map((head) => [head.chain, head]));
  for (const chain of anchored.keys())
    if (!heads.has(chain))
      problems.push({
        reason: 'head',
        chain,
        sequence: anchored.get(chain)?.sequence ?? 0,
        message: `chain ${chain}, which anchor ${since?.record.sequence ?? '?'} names, has no head row any more`,
      });
  for (const [chain, head] of heads) {
    const start = anchored.get(chain) ?? genesisOf(chain);
    const report = (problem: RecordProblem): void => {
      problems.push(problem);
    };
    const end = await walkChain(db, chain, start, { through: head.sequence, report });
    if (end.sequence !== head.sequence || end.hash !== head.hash)
      report({
        reason: 'head',
        chain,
        sequence: end.sequence,
        message: `chain ${chain}'s head row says record ${head.sequence}, but the chain holds up to record ${end.sequence} with another hash`,
      });
  }
  return problems;
}

/** The newest anchor this server wrote or verified, as kept in its memory file. */
interface RememberedAnchor {
  readonly record: string;
  readonly digest: string;
  readonly mac: string;
  readonly moduleSerial: string;
}

function readMemory(file: string | undefined): AuditAnchor | null {
  if (file === undefined || !existsSync(file)) return null;
  const kept = JSON.parse(readFileSync(file, 'utf8')) as RememberedAnchor;
  return {
    record: JSON.parse(kept.record) as AuditAnchor['record'],
    bytes: Buffer.from(kept.record, 'utf8'),
    digest: kept.digest,
    mac: Buffer.from(kept.mac, 'base64'),
    moduleSerial: kept.moduleSerial,
  };
}

function writeMemory(file: string | undefined, anchor: AuditAnchor): void {
  if (file === undefined) return;
  const kept: RememberedAnchor = {
    record: anchor.bytes.toString('utf8'),
    digest: anchor.digest,
    mac: anchor.mac.toString('base64'),
    moduleSerial: anchor.moduleSerial,
  };
  writeFileSync(`${file}.tmp`, `${JSON.stringify(kept)}\n`, { mode: 0o600, flush: true });
  renameSync(`${file}.tmp`, file);
}

/**
 * The anchor writer: every `intervalSeconds` it MACs, inside a crypto module, an anchor naming
 * every audit chain's head and the previous anchor's digest. Verified as written: before it
 * anchors it checks the previous anchor's MAC (and that the anchor it wrote last is still there,
 * unchanged, and linked to every later one) and the chain segments since; anything that does not
 * verify raises the alarm (an `audit.alarm` event, the indicia_audit_anchoring_stopped metric, an
 * error log line) and stops anchoring until the server is restarted after an investigation.
 * In a farm one server anchors each period (job-runner.ts); each keeps its own memory file.
 */
export function startAuditAnchorJob(dependencies: {
  readonly db: Kysely<DatabaseSchema>;
  readonly macs: RecordMacs;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  readonly intervalSeconds: number;
  /**
   * A file outside the database (the data directory) where the writer keeps the newest anchor
   * it wrote or verified, so that after a restart too it notices anchors deleted from the
   * database (with the events after the one left standing rewritten).
   */
  readonly memoryFile?: string;
  readonly coordinator?: JobCoordinator;
}): AuditAnchorJob {
  const { db, macs, logger, metrics, intervalSeconds, memoryFile } = dependencies;
  let stoppedReason: string | null = null;
  let remembered: AuditAnchor | null = null;
  let memoryProblem: string | null = null;
  try {
    remembered = readMemory(memoryFile);
  } catch (error) {
    memoryProblem = `the anchor writer's memory file ${memoryFile ?? ''} cannot be read (${error instanceof Error ? error.message : String(error)})`;
  }
  const remember = (anchor: AuditAnchor | null): void => {
    if (anchor === null || anchor.digest === remembered?.digest) return;
    remembered = anchor;
    writeMemory(memoryFile, anchor);
  };
  metrics.audit.anchoringStopped.set(0);

  const alarm = async (reason: string, problem: RecordProblem | null): Promise<AnchorRun> => {
    stoppedReason = reason;
    metrics.audit.anchoringStopped.set(1);
    logger.error({ reason, problem }, 'audit log does not verify: anchoring stopped');
    await db
      .transaction()
      .execute((trx) =>
        appendAuditEvents(trx, [
          {
            kind: 'audit.alarm',
            details: { reason, chain: problem?.chain ?? null, sequence: problem?.sequence ?? null },
          },
        ]),
      )
      .catch((error: unknown) => logger.error({ err: error }, 'audit log: could not record the alarm'));
    return { kind: 'stopped', reason };
  };

  /** The anchors from the one this writer knew to the newest: still there, authentic and linked. */
  const checkAnchors = async (newest: AuditAnchor | null): Promise<string | null> => {
    if (remembered === null) {
      // Nothing remembered (a first start): the newest anchor's MAC; the verification job checks the rest.
      return newest === null ? null : checkAnchor(newest, newest.record.sequence, macs.verify);
    }
    const known = remembered.record.sequence;
    if (newest === null || newest.record.sequence < known)
      return `anchor ${known}, which this server verified or wrote, is gone (the newest anchor is ${newest?.record.sequence ?? 'none'})`;
    const since = await anchorsBetween(db, known, newest.record.sequence);
    if (since[0]?.digest !== remembered.digest || !since[0].bytes.equals(remembered.bytes))
      return `anchor ${known}, which this server verified or wrote, was replaced`;
    for (let index = 1; index < since.length; index += 1) {
      const anchor = since[index] as AuditAnchor;
      const before = since[index - 1] as AuditAnchor;
      const sequence = known + index;
      const problem = await checkAnchor(anchor, sequence, macs.verify);
      if (problem !== null) return problem;
      if (anchor.record.previous !== before.digest)
        return `anchor ${sequence} does not name the digest of anchor ${sequence - 1} before it`;
    }
    return null;
  };

  const anchorNow = async (): Promise<AnchorRun> => {
    if (stoppedReason !== null) return { kind: 'stopped', reason: stoppedReason };
    if (memoryProblem !== null) return alarm(memoryProblem, null);
    const previous = await newestAnchor(db);
    const anchorProblem = await checkAnchors(previous);
    if (anchorProblem !== null) return alarm(anchorProblem, null);
    const heads = await chainHeads(db);
    const problems = await verifySegment(db, previous, heads);
    const first = problems[0];
    if (first !== undefined)
      return alarm(`chain ${first.chain}, record ${first.sequence}: ${first.message}`, first);
    remember(previous);
    const anchored = new Map((previous?.record.heads ?? []).map((head) => [head.chain, head]));
    const isUnchanged =
      heads.size === anchored.size &&
      [...heads].every(([chain, head]) => anchored.get(chain)?.hash === head.hash);
    if (isUnchanged) return { kind: 'unchanged', anchor: previous?.record.sequence ?? null };
    const anchor = await writeAnchor(
      db,
      macs,
      previous,
      [...heads].map(([chain, head]) => ({ chain, sequence: head.sequence, hash: head.hash })),
    );
    if (anchor === null) return { kind: 'raced' };
    remember(anchor);
    metrics.audit.anchorsWritten.inc();
    return { kind: 'anchored', anchor: anchor.record.sequence, chains: heads.size };
  };

  const runner = startJobRunner({
    name: 'audit-anchoring',
    schedule: intervalSeconds > 0 ? { everyMs: intervalSeconds * 1000 } : 'off',
    work: anchorNow,
    describe: (run) => run,
    failureMessage: 'audit anchoring failed',
    logger,
    metrics,
    coordinator: dependencies.coordinator,
  });
  return {
    runOnce: () => runner.runOnce(),
    get stoppedReason() {
      return stoppedReason;
    },
    // A last anchor, while the modules are still open.
    stop: ({ isFinalAnchor = true } = {}) => runner.stop({ finalRun: intervalSeconds > 0 && isFinalAnchor }),
  };
}
