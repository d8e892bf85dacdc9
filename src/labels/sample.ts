import {
  type IndiciumFields,
  SIGNATURE_LENGTH,
  assembleIndicium,
  encodeSignedData,
} from '../indicium/index.ts';

/**
 * The bytes of a **sample** indicium for a print preview: the fields a real one would carry, and
 * a signature of zeros, which no certificate verifies — a preview moves no value and is no
 * postage. Labels drawn from it carry the SAMPLE mark.
 */
export function sampleIndicium(fields: IndiciumFields): Buffer {
  return assembleIndicium(encodeSignedData(fields), Buffer.alloc(SIGNATURE_LENGTH));
}
