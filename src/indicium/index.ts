export { IndiciumError, type IndiciumErrorCode } from './indicium-error.ts';
export {
  ALGORITHM_IDS,
  EXAMPLE_INDICIUM_FIELDS,
  INDICIUM_LENGTH,
  INDICIUM_V1_LAYOUT,
  INDICIUM_VERSION,
  SIGNATURE_LENGTH,
  SIGNED_LENGTH,
  assembleIndicium,
  decodeIndicium,
  encodeSignedData,
  type DecodedIndicium,
  type FieldLayout,
  type IndiciumAlgorithm,
  type IndiciumFields,
} from './indicium-layout.ts';
export { formatMeterNumber, parseMeterNumber, type MeterNumber } from './meter-number.ts';
