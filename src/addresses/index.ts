export { type AddressInput, parseFreeForm, stateCode } from './parse.ts';
export {
  AddressError,
  type AddressErrorCode,
  type AddressProvider,
  type AddressRequest,
  offlineAddressProvider,
} from './provider.ts';
export { type LineKind, type StandardLine, cleanLine, standardizeLine } from './standardize.ts';
export {
  type AddressVerification,
  type Candidate,
  type MatchKind,
  type StandardAddress,
  verifyAddress,
} from './verify.ts';
export { type ZipData, type ZipPlace, cityKey, zipData } from './zip-data.ts';
