export { LogShippingError, type LogShippingErrorCode } from './log-shipping-error.ts';
export {
  type ArchiveContents,
  SHIPMENT_KEY_LABEL,
  type ShipmentReport,
  type ShipperDependencies,
  compareRecords,
  readArchive,
  shipLog,
} from './log-shipper.ts';
export { SHIPMENT_FORMAT, type ShippedRecord, shipmentFileName } from './shipment-format.ts';
