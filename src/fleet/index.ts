export {
  type Fleet,
  type FleetModule,
  type FleetServer,
  type FleetServerState,
  moduleNumbersOf,
  readFleet,
} from './fleet-view.ts';
export {
  HOW_TO_SHARE_KEYS,
  type InstallationKeys,
  assertInstallationKeys,
  keyFingerprint,
  keysMissing,
  readInstallationKeys,
} from './installation-keys.ts';
export {
  type ClaimOptions,
  HEARTBEAT_INTERVAL_MS,
  type HeartbeatReport,
  LEASE_MS,
  SERIAL_LOCK_CLASS,
  SERVER_LOCK_CLASS,
  type ServerClaim,
  claimServerModules,
} from './server-claim.ts';
export { SERVER_ID_FILE, ensureServerId, readServerId } from './server-identity.ts';
