export {
  type Quote,
  type QuoteRequest,
  type RateBreak,
  type RateClass,
  type RateTable,
  RateBook,
} from './rate-book.ts';
export { type RateRequest, RatesService, rateTableDirectories } from './rates-service.ts';
export {
  ENVELOPE_OUNCES,
  type EnvelopeKind,
  type PaperWeight,
  RateError,
  type RateErrorCode,
  SHEET_OUNCES,
  pieceOunces,
} from './weight.ts';
export {
  type Zone,
  type ZoneAnswer,
  type ZoneChart,
  type ZipArea,
  greatCircleMiles,
  zipAreas,
  zoneBetween,
} from './zones.ts';
export { loadZoneCharts, parseZoneChart } from './zone-chart.ts';
