import { IndiciumError } from './indicium-error.ts';

/** A meter (PSD) number as the seed prints it: manufacturer (2), model (2), serial (8 digits). */
export interface MeterNumber {
  /** Two characters assigned by the postal authority to the vendor, e.g. "04". */
  readonly manufacturerId: string;
  /** A digit and a letter, e.g. "2N". */
  readonly modelId: string;
  /** Up to 8 digits: in the pooled mode, global PSD (4), machine (1) and PSD number (3). */
  readonly serial: number;
}

const PATTERN = /^([0-9A-Z]{2})([0-9][A-Z])(\d{8})$/;

/**
 * @example formatMeterNumber({ manufacturerId: '04', modelId: '2N', serial: 50000058 }) // '042N50000058'
 */
export function formatMeterNumber(meter: MeterNumber): string {
  if (!Number.isInteger(meter.serial) || meter.serial < 0 || meter.serial > 99_999_999) {
    throw new IndiciumError(
      'indicium.meter_number_invalid',
      `A meter serial has at most 8 digits; got ${meter.serial}.`,
    );
  }
  const text = `${meter.manufacturerId}${meter.modelId}${String(meter.serial).padStart(8, '0')}`;
  parseMeterNumber(text);
  return text;
}

/** @example parseMeterNumber('042N50000058') // { manufacturerId: '04', modelId: '2N', serial: 50000058 } */
export function parseMeterNumber(text: string): MeterNumber {
  const match = PATTERN.exec(text);
  if (match === null) {
    throw new IndiciumError(
      'indicium.meter_number_invalid',
      `"${text}" is not a meter number: 2 characters of manufacturer, a digit and a letter of model, 8 digits of serial (like 042N50000058).`,
    );
  }
  return { manufacturerId: match[1] ?? '', modelId: match[2] ?? '', serial: Number(match[3]) };
}
