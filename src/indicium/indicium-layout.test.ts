import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Mills } from '../money/index.ts';
import {
  EXAMPLE_INDICIUM_FIELDS,
  INDICIUM_LENGTH,
  INDICIUM_V1_LAYOUT,
  IndiciumError,
  type IndiciumFields,
  SIGNED_LENGTH,
  assembleIndicium,
  decodeIndicium,
  encodeSignedData,
  formatMeterNumber,
  parseMeterNumber,
} from './index.ts';

const fieldsArbitrary: fc.Arbitrary<IndiciumFields> = fc.record({
  algorithm: fc.constantFrom('ecdsa-p256' as const, 'ed25519' as const),
  certificateSerial: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  manufacturerId: fc.stringMatching(/^[0-9A-Z]{2}$/),
  modelId: fc.stringMatching(/^[0-9][A-Z]$/),
  psdSerial: fc.integer({ min: 0, max: 99_999_999 }),
  ascendingRegister: fc.integer({ min: 0, max: 2 ** 48 - 1 }).map((value) => value as Mills),
  postage: fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((value) => value as Mills),
  date: fc
    .date({
      min: new Date('2000-01-01T00:00:00Z'),
      max: new Date('2999-12-31T00:00:00Z'),
      noInvalidDate: true,
    })
    .map((date) => date.toISOString().slice(0, 10)),
  originZip: fc.oneof(fc.stringMatching(/^\d{5}$/), fc.stringMatching(/^\d{5}-[1-9]\d{3}$/)),
  userId: fc.integer({ min: 0, max: 2 ** 40 - 1 }),
  softwareId: fc.integer({ min: 0, max: 255 }),
  labelSerial: fc.integer({ min: 0, max: 2 ** 40 - 1 }),
  descendingRegister: fc.integer({ min: 0, max: 2 ** 48 - 1 }).map((value) => value as Mills),
  rateCategory: fc.stringMatching(/^[0-9A-Z]{1,4}$/),
});

describe('indicium layout v1', () => {
  it('is contiguous and 121 bytes long', () => {
    let offset = 0;
    for (const field of INDICIUM_V1_LAYOUT) {
      assert.equal(field.offset, offset, field.name);
      offset += field.length;
    }
    assert.equal(offset, INDICIUM_LENGTH);
    assert.equal(INDICIUM_LENGTH, 121);
  });

  it('round-trips every valid indicium', () => {
    fc.assert(
      fc.property(fieldsArbitrary, fc.uint8Array({ minLength: 64, maxLength: 64 }), (fields, signature) => {
        const signed = encodeSignedData(fields);
        assert.equal(signed.length, SIGNED_LENGTH);
        const decoded = decodeIndicium(assembleIndicium(signed, Buffer.from(signature)));
        const { version, signedData, signature: decodedSignature, ...rest } = decoded;
        assert.equal(version, 1);
        assert.deepEqual(rest, { ...fields });
        assert.deepEqual(signedData, signed);
        assert.deepEqual(decodedSignature, Buffer.from(signature));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses values that do not fit, naming the field', () => {
    const cases: [keyof IndiciumFields, unknown][] = [
      ['postage', 2 ** 32],
      ['postage', -1],
      ['postage', 1.5],
      ['ascendingRegister', 2 ** 48],
      ['descendingRegister', -5],
      ['certificateSerial', 2n ** 64n],
      ['manufacturerId', '4'],
      ['modelId', 'N2'],
      ['date', '2026-02-30'],
      ['date', '23/11/2026'],
      ['originZip', '9410'],
      ['rateCategory', 'first'],
      ['userId', 2 ** 40],
    ];
    for (const [field, value] of cases) {
      assert.throws(
        () => encodeSignedData({ ...EXAMPLE_INDICIUM_FIELDS, [field]: value }),
        (error: unknown) =>
          error instanceof IndiciumError &&
          error.code === 'indicium.field_invalid' &&
          error.details?.['field'] === field,
        `${field} = ${String(value)}`,
      );
    }
  });

  it('refuses bytes that are not an indicium', () => {
    const good = assembleIndicium(encodeSignedData(EXAMPLE_INDICIUM_FIELDS), Buffer.alloc(64, 7));
    for (const bad of [
      good.subarray(0, 120),
      Buffer.concat([good, Buffer.alloc(1)]),
      Buffer.from([2, ...good.subarray(1)]),
      Buffer.from([1, 9, ...good.subarray(2)]),
    ]) {
      assert.throws(
        () => decodeIndicium(bad),
        (error: unknown) => error instanceof IndiciumError && error.code === 'indicium.malformed',
      );
    }
  });

  it('formats and parses meter numbers like 042N50000058', () => {
    assert.equal(
      formatMeterNumber({ manufacturerId: '04', modelId: '2N', serial: 50_000_058 }),
      '042N50000058',
    );
    assert.deepEqual(parseMeterNumber('042N50000058'), {
      manufacturerId: '04',
      modelId: '2N',
      serial: 50_000_058,
    });
    for (const bad of ['042N5000005', '04N250000058', '042n50000058', '']) {
      assert.throws(() => parseMeterNumber(bad), IndiciumError);
    }
    assert.throws(
      () => formatMeterNumber({ manufacturerId: '04', modelId: '2N', serial: 100_000_000 }),
      IndiciumError,
    );
  });
});
