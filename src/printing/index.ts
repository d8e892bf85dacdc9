export { LabelStock, type LabelPlace, type SheetView } from './label-stock.ts';
export { readCsv, type CsvLimits, type CsvRecord } from './csv.ts';
export {
  LIST_FIELDS,
  checkRow,
  columnsOf,
  type ListField,
  type ListPiece,
  type RowError,
} from './mailing-list-rows.ts';
export { MAILING_LIST_LIMITS, digestOf, type ImportRequest, type ListRow } from './mailing-list-import.ts';
export {
  MAX_LIST_PIECES,
  MailingLists,
  mailingListView,
  type IssueList,
  type MailingListView,
  type PrintExpectation,
} from './mailing-lists.ts';
export { PrintingError, type PrintingErrorCode } from './printing-error.ts';
export { AD_TEXT_LIMITS, AdTexts, type AdText } from './ad-texts.ts';
