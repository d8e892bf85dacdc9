export { RecoveryError, type RecoveryErrorCode } from './recovery-error.ts';
export { type ReplayReport, replayArchive } from './replay-archive.ts';
export { replayOrder } from './replay-order.ts';
export { type RecoveryGap, assessGap, recordGaps } from './recovery-gaps.ts';
export { type ModuleGapRecords, settleGaps } from './settle-gaps.ts';
