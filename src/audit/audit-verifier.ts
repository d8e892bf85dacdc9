import type { Kysely } from 'kysely';
import type { DatabaseSchema } from '../store/index.ts';
import { AuditError } from './audit-error.ts';
import {
  type AuditAnchor,
  FIRST_ANCHOR_PREVIOUS,
  type RecordMacs,
  anchorsBetween,
  checkAnchor,
} from './audit-anchors.ts';
import type { AuditEvent } from './audit-log.ts';
import {
  type ChainPosition,
  type RecordProblemReason,
  chainHeads,
  chainIds,
  genesisOf,
  walkChain,
} from './chain-walk.ts';

export type AuditProblemReason =
  | RecordProblemReason
  /** An anchor's MAC (or digest, or sequence) does not verify: it was not made by a module. */
  | 'anchor-mac'
  /** An anchor does not name the digest of the one before, or anchors are missing. */
  | 'anchor-link'
  /** A record an anchor names has another hash in its chain (the chain was rewritten), or is gone. */
  | 'anchor-head'
  /** The caller's check (against the protected module log) refuses a psd.* event. */
  | 'cross-check';

export interface AuditProblem {
  readonly reason: AuditProblemReason;
  /** The chain and the first record that may be bad; null for a problem of the anchors alone. */
  readonly chain: string | null;
  readonly sequence: number | null;
  /** For `anchor-head`: the last record of the range the anchor vouched for (the bad one is in between). */
  readonly through: number | null;
  /** The anchor concerned, if any. */
  readonly anchor: number | null;
  readonly message: string;
}

export interface AuditVerificationOptions {
  /** Start at this verified anchor: its heads are trusted as the chains' starting points. */
  readonly from?: number;
  /** Verifies an anchor's MAC inside a crypto module (`RecordMacs.verify`). */
  readonly verifyMac: RecordMacs['verify'];
  /**
   * Checks a `psd.*` event against the protected module log (custody's moduleCounter,
   * packageSequence, amountMills); returns why it does not match, or null. Catches a changed
   * amount even in events not yet anchored.
   */
  readonly crossCheck?: (event: AuditEvent) => Promise<string | null>;
}

export interface AuditVerification {
  readonly isIntact: boolean;
  /** Events walked (hash, link and sequence checked), over every chain. */
  readonly records: number;
  readonly chains: number;
  /** Anchors checked, and the first and newest of them. */
  readonly anchors: number;
  readonly firstAnchor: number | null;
  readonly newestAnchor: number | null;
  /** Events after the newest anchor's heads: checked by hash only, vouched for by no MAC yet. */
  readonly unanchored: number;
  /** psd.* events the caller's cross-check looked at. */
  readonly crossChecked: number;
  /** Anchor problems first (by anchor), then each chain's (by chain, then sequence). */
  readonly problems: readonly AuditProblem[];
  readonly firstProblem: AuditProblem | null;
}

interface Checkpoint extends ChainPosition {
  readonly anchor: number;
}

/**
 * Verifies the whole audit log: every anchor of the root chain (its MAC, inside a module; its
 * link to the one before; no anchor missing), every chain from genesis (or from anchor `from`'s
 * heads) by its SHA-256 hashes and sequences, every head an anchor names against the record in
 * its chain, and each chain's head row. A chain rewritten with recomputed hashes shows at the
 * first anchor whose head no longer matches: no one without the module key can make an anchor
 * that names the new hashes. The optional cross-check names the very event whose facts differ
 * from the protected module log.
 *
 * @example const report = await verifyAuditLog(db, { verifyMac: (bytes, mac) => module.services.verifyRecordMac(AUDIT_ANCHOR_LABEL, bytes, mac) });
 */
export async function verifyAuditLog(
  db: Kysely<DatabaseSchema>,
  options: AuditVerificationOptions,
): Promise<AuditVerification> {
  const anchorProblems: AuditProblem[] = [];
  const recordProblems: AuditProblem[] = [];
  const anchorProblem = (reason: AuditProblemReason, anchor: number, message: string): void => {
    anchorProblems.push({ reason, chain: null, sequence: null, through: null, anchor, message });
  };
  const first = options.from ?? 1;
  const anchors = await anchorsBetween(db, first);
  if (options.from !== undefined && anchors[0]?.record.sequence !== options.from)
    throw new AuditError(
      'audit.unknown_anchor',
      `There is no anchor ${options.from}; indicia audit verify without --from lists the anchors it checks.`,
    );

  // The root chain. Only anchors whose MAC verifies vouch for heads.
  const checkpoints = new Map<string, Checkpoint[]>();
  let previous: AuditAnchor | null = null;
  let starts = new Map<string, ChainPosition>();
  let newestTrusted: AuditAnchor | null = null;
  let expected = first;
  for (const [index, anchor] of anchors.entries()) {
    const sequence = anchor.record.sequence;
    if (sequence < expected) {
      anchorProblem('anchor-link', sequence, `anchor ${sequence} appears again after anchor ${expected - 1}`);
      continue;
    }
    const isAfterGap = sequence !== expected;
    if (isAfterGap)
      anchorProblem(
        'anchor-link',
        expected,
        sequence === expected + 1
          ? `anchor ${expected} is missing`
          : `anchors ${expected} to ${sequence - 1} are missing`,
      );
    expected = sequence + 1;
    const problem = await checkAnchor(anchor, sequence, options.verifyMac);
    if (problem !== null) {
      anchorProblem('anchor-mac', sequence, problem);
      previous = anchor;
      continue;
    }
    const expectedPrevious =
      index === 0
        ? options.from === undefined
          ? FIRST_ANCHOR_PREVIOUS
          : anchor.record.previous
        : previous?.digest;
    if (!isAfterGap && anchor.record.previous !== expectedPrevious)
      anchorProblem(
        'anchor-link',
        sequence,
        `anchor ${sequence} does not name the digest of anchor ${sequence - 1} before it`,
      );
    if (index === 0 && options.from !== undefined)
      starts = new Map(anchor.record.heads.map((head) => [head.chain, head]));
    else
      for (const head of anchor.record.heads) {
        const list = checkpoints.get(head.chain) ?? [];
        list.push({ anchor: sequence, sequence: head.sequence, hash: head.hash });
        checkpoints.set(head.chain, list);
      }
    if (newestTrusted !== null)
      for (const head of newestTrusted.record.heads) {
        const now = anchor.record.heads.find((candidate) => candidate.chain === head.chain);
        if (now === undefined || now.sequence < head.sequence)
          anchorProblem(
            'anchor-head',
            sequence,
            `anchor ${sequence} names chain ${head.chain} ${now === undefined ? 'not at all' : `at record ${now.sequence}`}, but anchor ${newestTrusted.record.sequence} named it at record ${head.sequence}`,
          );
      }
    newestTrusted = anchor;
    previous = anchor;
  }

  // Every chain, against the anchors.
  const heads = await chainHeads(db);
  const chains = [...new Set([...(await chainIds(db)), ...checkpoints.keys(), ...starts.keys()])].sort();
  let records = 0;
  let unanchored = 0;
  let crossChecked = 0;
  for (const chain of chains) {
    const pending = [...(checkpoints.get(chain) ?? [])];
    const newestAnchored = newestTrusted?.record.heads.find((head) => head.chain === chain)?.sequence ?? 0;
    let lastVouched = starts.get(chain)?.sequence ?? 0;
    const state = { isRewritten: false };
    const matchAnchors = (sequence: number, hash: string): void => {
      while (pending[0] !== undefined && pending[0].sequence <= sequence) {
        const checkpoint = pending.shift() as Checkpoint;
        if (checkpoint.sequence === sequence && checkpoint.hash !== hash && !state.isRewritten) {
          state.isRewritten = true;
          recordProblems.push({
            reason: 'anchor-head',
            chain,
            sequence: lastVouched + 1,
            through: sequence,
            anchor: checkpoint.anchor,
            message: `anchor ${checkpoint.anchor} vouches for record ${sequence} with hash ${checkpoint.hash.slice(0, 12)}…, but the chain has ${hash.slice(0, 12)}…: a record from ${lastVouched + 1} to ${sequence} was changed, and the hashes after it recomputed, after the anchor was made`,
          });
        }
        if (!state.isRewritten) lastVouched = checkpoint.sequence;
      }
    };
    const end = await walkChain(db, chain, starts.get(chain) ?? genesisOf(chain), {
      report: (problem) => recordProblems.push({ ...problem, through: null, anchor: null }),
      visit: async (event) => {
        records += 1;
        if (event.sequence > newestAnchored) unanchored += 1;
        matchAnchors(event.sequence, event.hash);
        if (options.crossCheck !== undefined && event.kind.startsWith('psd.')) {
          crossChecked += 1;
          const refusal = await options.crossCheck(event);
          if (refusal !== null)
            recordProblems.push({
              reason: 'cross-check',
              chain,
              sequence: event.sequence,
              through: null,
              anchor: null,
              message: `record ${event.sequence} (${event.kind}) disagrees with the protected module log: ${refusal}`,
            });
        }
      },
    });
    const beyond = pending.at(-1);
    if (beyond !== undefined && !state.isRewritten)
      recordProblems.push({
        reason: 'anchor-head',
        chain,
        sequence: end.sequence + 1,
        through: beyond.sequence,
        anchor: beyond.anchor,
        message: `anchor ${beyond.anchor} vouches for record ${beyond.sequence}, but the chain ends at record ${end.sequence}: records ${end.sequence + 1} to ${beyond.sequence} were deleted`,
      });
    const head = heads.get(chain);
    if (head === undefined || head.sequence !== end.sequence || head.hash !== end.hash)
      recordProblems.push({
        reason: 'head',
        chain,
        sequence: end.sequence,
        through: null,
        anchor: null,
        message:
          head === undefined
            ? `the chain has no head row`
            : `the head row says record ${head.sequence} (${head.hash.slice(0, 12)}…), but the chain ends at record ${end.sequence} (${end.hash.slice(0, 12)}…)`,
      });
  }
  recordProblems.sort((left, right) =>
    left.chain === right.chain
      ? (left.sequence ?? 0) - (right.sequence ?? 0)
      : (left.chain ?? '') < (right.chain ?? '')
        ? -1
        : 1,
  );
  const problems = [...anchorProblems, ...recordProblems];
  return {
    isIntact: problems.length === 0,
    records,
    chains: chains.length,
    anchors: anchors.length,
    firstAnchor: anchors[0]?.record.sequence ?? null,
    newestAnchor: anchors.at(-1)?.record.sequence ?? null,
    unanchored,
    crossChecked,
    problems,
    firstProblem: problems[0] ?? null,
  };
}
