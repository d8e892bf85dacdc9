import { IndiciaError } from '../errors/index.ts';

export type VaultErrorCode =
  | 'vault.key_file_invalid'
  | 'vault.kek_missing'
  | 'vault.backend_unavailable'
  | 'vault.error_state'
  | 'vault.wrong_state'
  | 'vault.role_required'
  | 'vault.authentication_failed'
  | 'vault.package_invalid'
  | 'vault.package_meter_mismatch'
  | 'vault.package_stale'
  | 'vault.package_replayed'
  | 'vault.key_version_retired'
  | 'vault.key_version_unknown'
  | 'vault.checkpoint_invalid'
  | 'vault.module_inhibited'
  | 'vault.service_stopped'
  | 'vault.zeroized'
  | 'vault.algorithm_unsupported'
  | 'vault.enrollment_invalid'
  | 'psd.no_device'
  | 'psd.client_unauthenticated'
  | 'psd.stale_challenge'
  | 'psd.register_mismatch'
  | 'psd.insufficient_funds'
  | 'psd.max_dr_exceeded'
  | 'psd.not_active'
  | 'psd.invalid_amount'
  | 'psd.unbalanced_return';

export class VaultError extends IndiciaError<VaultErrorCode> {}
