export { canonicalJson } from './canonical-json.ts';
export { timeOrderedUuid } from './time-ordered-id.ts';
export { US_STATE_CODES, ZIP_PATTERN } from './postal.ts';
