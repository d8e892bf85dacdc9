export { canonicalJson } from './canonical-json.ts';
export { timeOrderedUuid } from './time-ordered-id.ts';
