import type { Kysely } from 'kysely';
import type { DatabaseSchema } from '../store/index.ts';
import { AuditError } from './audit-error.ts';
import {
  type AnchoredHead,
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
  /** Anchor problems first (by anchor), then each chain's (by chain, then sequence); the first 1000. */
  readonly problems: readonly AuditProblem[];
  /** Every problem found, kept or not. */
  readonly problemCount: number;
  readonly firstProblem: AuditProblem | null;
}

/** Where the walk of one chain stands, and what the anchors said of it so far. */
interface ChainState {
  position: ChainPosition;
  /** Whether `position` was reached by a walk (else it is a start not yet checked). */
  isWalked: boolean;
  /** The newest record an anchor vouched for and the chain matched. */
  lastVouched: number;
  /** Reported once: after a rewritten range, every later anchor of the chain differs too. */
  isRewritten: boolean;
  isTruncated: boolean;
}

/** Problems kept in the report; the rest are counted. */
const KEPT_PROBLEMS = 1_000;
const ANCHOR_PAGE = 1_000;

/**
 * Verifies the whole audit log: every anchor of the root chain (its MAC, inside a module; its
 * link to the one before; no anchor missing), every chain from genesis (or from anchor `from`'s
 * heads) by its SHA-256 hashes and sequences, every head an anchor names against the record in
 * its chain, and each chain's head row. A chain rewritten with recomputed hashes shows at the
 * first anchor whose head no longer matches: no one without the module key can make an anchor
 * that names the new hashes. The optional cross-check names the very event whose facts differ
 * from the protected module log. Anchors are read a page at a time and each chain is walked
 * forward as far as the next anchor names it, so memory stays small however long the log is.
 *
 * @example const report = await verifyAuditLog(db, { verifyMac: anchorMacs((work) => pool.withModule(work)).verify });
 */
export async function verifyAuditLog(
  db: Kysely<DatabaseSchema>,
  options: AuditVerificationOptions,
): Promise<AuditVerification> {
  const anchorProblems: AuditProblem[] = [];
  const recordProblems: AuditProblem[] = [];
  let problemCount = 0;
  const keep = (list: AuditProblem[], problem: AuditProblem): void => {
    problemCount += 1;
    if (anchorProblems.length + recordProblems.length < KEPT_PROBLEMS) list.push(problem);
  };
  const anchorProblem = (reason: AuditProblemReason, anchor: number, message: string): void => {
    keep(anchorProblems, { reason, chain: null, sequence: null, through: null, anchor, message });
  };
  const first = options.from ?? 1;
  let page = await anchorsBetween(db, first, first + ANCHOR_PAGE - 1);
  if (options.from !== undefined && page[0]?.record.sequence !== options.from)
    throw new AuditError(
      'audit.unknown_anchor',
      `There is no anchor ${options.from}; indicia audit verify without --from lists the anchors it checks.`,
    );

  let records = 0;
  let crossChecked = 0;
  const states = new Map<string, ChainState>();
  const stateOf = (chain: string): ChainState => {
    let state = states.get(chain);
    if (state === undefined) {
      state = {
        position: genesisOf(chain),
        isWalked: true,
        lastVouched: 0,
        isRewritten: false,
        isTruncated: false,
      };
      states.set(chain, state);
    }
    return state;
  };
  const visit = (chain: string, counted: (event: AuditEvent) => void) => async (event: AuditEvent) => {
    records += 1;
    counted(event);
    if (options.crossCheck === undefined || !event.kind.startsWith('psd.')) return;
    crossChecked += 1;
    const refusal = await options.crossCheck(event);
    if (refusal !== null)
      keep(recordProblems, {
        reason: 'cross-check',
        chain,
        sequence: event.sequence,
        through: null,
        anchor: null,
        message: `record ${event.sequence} (${event.kind}) disagrees with the protected module log: ${refusal}`,
      });
  };
  /** Walks `chain` on from where it stands up to `through` (or its end). */
  const walk = async (chain: string, through: number | undefined, counted: (event: AuditEvent) => void) => {
    const state = stateOf(chain);
    state.position = await walkChain(db, chain, state.position, {
      ...(through === undefined ? {} : { through }),
      checkStart: !state.isWalked,
      report: (problem) => keep(recordProblems, { ...problem, through: null, anchor: null }),
      visit: visit(chain, counted),
    });
    state.isWalked = true;
  };
  /** An anchor vouches for `head` of its chain: walk there and compare. */
  const vouch = async (anchor: number, head: AnchoredHead): Promise<void> => {
    const state = stateOf(head.chain);
    if (head.sequence > state.position.sequence) await walk(head.chain, head.sequence, () => undefined);
    if (head.sequence !== state.position.sequence) {
      if (head.sequence > state.position.sequence && !state.isTruncated && !state.isRewritten) {
        state.isTruncated = true;
        keep(recordProblems, {
          reason: 'anchor-head',
          chain: head.chain,
          sequence: state.position.sequence + 1,
          through: head.sequence,
          anchor,
          message: `anchor ${anchor} vouches for record ${head.sequence}, but the chain ends at record ${state.position.sequence}: records ${state.position.sequence + 1} to ${head.sequence} were deleted`,
        });
      }
      return;
    }
    if (state.position.hash === head.hash) {
      if (!state.isRewritten) state.lastVouched = head.sequence;
      return;
    }
    if (state.isRewritten) return;
    state.isRewritten = true;
    const from = state.lastVouched + 1;
    keep(recordProblems, {
      reason: 'anchor-head',
      chain: head.chain,
      sequence: from,
      through: head.sequence,
      anchor,
      message: `anchor ${anchor} vouches for record ${head.sequence} with hash ${head.hash.slice(0, 12)}…, but the chain has ${state.position.hash.slice(0, 12)}…: a record from ${from} to ${head.sequence} was changed, and the hashes after it recomputed, after the anchor was made`,
    });
  };

  // The root chain, page by page. Only anchors whose MAC verifies vouch for heads.
  let anchors = 0;
  const firstAnchor = page[0]?.record.sequence ?? null;
  let newestAnchor: number | null = null;
  let previous: AuditAnchor | null = null;
  let newestTrusted: AuditAnchor | null = null;
  let expected = first;
  while (page.length > 0) {
    for (const anchor of page) {
      anchors += 1;
      const sequence = anchor.record.sequence;
      newestAnchor = Math.max(newestAnchor ?? 0, sequence);
      if (sequence < expected) {
        anchorProblem(
          'anchor-link',
          sequence,
          `anchor ${sequence} appears again after anchor ${expected - 1}`,
        );
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
      const isStart = sequence === options.from;
      const expectedPrevious = isStart
        ? anchor.record.previous
        : previous === null
          ? FIRST_ANCHOR_PREVIOUS
          : previous.digest;
      if (!isAfterGap && anchor.record.previous !== expectedPrevious)
        anchorProblem(
          'anchor-link',
          sequence,
          `anchor ${sequence} does not name the digest of anchor ${sequence - 1} before it`,
        );
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
      for (const head of anchor.record.heads) {
        if (isStart)
          states.set(head.chain, {
            position: { sequence: head.sequence, hash: head.hash },
            isWalked: false,
            lastVouched: head.sequence,
            isRewritten: false,
            isTruncated: false,
          });
        else await vouch(sequence, head);
      }
      newestTrusted = anchor;
      previous = anchor;
    }
    const last = page.at(-1)?.record.sequence ?? expected;
    page = await anchorsBetween(db, last + 1, last + ANCHOR_PAGE);
  }

  // Every chain to its end: what is left after the newest anchor is not yet anchored.
  const heads = await chainHeads(db);
  const chains = [...new Set([...(await chainIds(db)), ...states.keys()])].sort();
  let unanchored = 0;
  for (const chain of chains) {
    await walk(chain, undefined, () => {
      unanchored += 1;
    });
    const end = stateOf(chain).position;
    const head = heads.get(chain);
    if (head === undefined || head.sequence !== end.sequence || head.hash !== end.hash)
      keep(recordProblems, {
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
    isIntact: problemCount === 0,
    records,
    chains: chains.length,
    anchors,
    firstAnchor,
    newestAnchor,
    unanchored,
    crossChecked,
    problems,
    problemCount,
    firstProblem: problems[0] ?? null,
  };
}
