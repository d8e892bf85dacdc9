// @peculiar/x509 resolves its algorithms through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { Kysely } from 'kysely';
import {
  type AuthorityService,
  type IssuedCertificate,
  meterSubject,
  moduleSigningCrypto,
} from '../authority/index.ts';
import type { CustodyService } from '../custody/index.ts';
import { formatMeterNumber } from '../indicium/index.ts';
import type { Mills } from '../money/index.ts';
import { appendAuditEvents } from '../audit/index.ts';
import { type DatabaseSchema, allocateNumber } from '../store/index.ts';
import type { PsdView, SigningAlgorithm } from '../vault/index.ts';
import { meterRecord } from './issuance.ts';
import { MeterError } from './meter-error.ts';
import type { MeterSettings } from './meter-settings.ts';

export interface NewMeterRequest {
  readonly customerNumber: number;
  readonly licensingZip: string;
  readonly maxDescendingRegister: Mills;
  readonly algorithm?: SigningAlgorithm;
}

export interface GeneratedMeter {
  readonly meterId: string;
  readonly certificate: IssuedCertificate;
  readonly view: PsdView;
}

export interface MeterGenDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly custody: CustodyService;
  readonly authority: AuthorityService;
  readonly settings: MeterSettings;
}

/** Where a vendor-held PSD goes: the master PSD, or a pooled mini-PSD with its seed-003 serial. */
export interface MeterPlacement {
  readonly mode: 'master' | 'pooled';
  readonly modelId: string;
  /** Taken from the model's own counter when omitted. */
  readonly serial?: number;
}

/** Takes the next PSD serial of a model id (from 1); concurrent callers never share one. */
export function nextSerial(db: Kysely<DatabaseSchema>, modelId: string): Promise<number> {
  return allocateNumber(db, `meter-serial:${modelId}`, 1);
}

/**
 * Certifies the signing key a meter's package holds: a certificate request signed by that key
 * inside a crypto module, issued by the authority, checked against the CA and against the key.
 */
export async function certifyMeterKey(
  { custody, authority, settings }: Pick<MeterGenDependencies, 'custody' | 'authority' | 'settings'>,
  meterId: string,
  view: PsdView,
): Promise<IssuedCertificate> {
  const algorithm = view.signingKey.algorithm;
  const publicKey = Buffer.from(view.signingKey.publicKey, 'base64');
  const signing = moduleSigningCrypto(algorithm, publicKey, async (data) => {
    const signed = await custody.execute(meterId, [{ operation: { type: 'update' }, sign: () => data }]);
    return signed.signatures[0]?.signature ?? Buffer.alloc(0);
  });
  const certificationRequest = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: meterSubject(meterId),
      keys: { privateKey: signing.privateKey, publicKey: signing.publicKey } as never,
      signingAlgorithm: signing.signingAlgorithm,
    },
    signing.crypto,
  );
  const certificate = await authority.issueMeterCertificate({
    meterId,
    certificationRequest: certificationRequest.toString('pem'),
    validityDays: settings.keyValidityDays,
  });
  const check = await authority.verifyMeterCertificate(certificate.pem);
  const certifiedKey = Buffer.from(new x509.X509Certificate(certificate.pem).publicKey.rawData);
  if (!check.isValid || !certifiedKey.equals(publicKey)) {
    throw new MeterError(
      'meter.certificate_invalid',
      `The certificate issued for ${meterId} does not check out: ${check.reason ?? 'wrong public key'}.`,
    );
  }
  return certificate;
}

/**
 * Replaces a meter's signing key (before it expires, or when it is suspected): the module makes a
 * new key pair, the authority certifies it, and the new certificate serial is sealed in and
 * recorded. The old certificate is not revoked: indicia it signed stay verifiable.
 */
export async function replaceMeterKey(
  dependencies: MeterGenDependencies,
  meterId: string,
): Promise<GeneratedMeter> {
  const { db, custody, settings } = dependencies;
  const meter = await meterRecord(db, meterId);
  if (meter.status === 'withdrawn')
    throw new MeterError('meter.not_active', `Meter ${meterId} is withdrawn.`);
  const replaced = await custody.replaceSigningKey(meterId, { keyValidityDays: settings.keyValidityDays });
  const certificate = await certifyMeterKey(dependencies, meterId, replaced.view);
  const recorded = await custody.execute(
    meterId,
    [{ operation: { type: 'update', certificateSerial: certificate.serial } }],
    async (trx) => {
      await trx
        .updateTable('meters')
        .set({ certificate_serial: certificate.serial, updated_at: new Date().toISOString() })
        .where('meter_id', '=', meterId)
        .execute();
      await appendAuditEvents(trx, [
        {
          kind: 'meter.key_replaced',
          meterId,
          details: { previousCertificate: meter.certificate_serial, certificate: certificate.serial },
        },
      ]);
    },
  );
  return { meterId, certificate, view: recorded.view };
}

/**
 * MeterGen (seed 004): the module creates the meter's package and key pair; a certificate
 * request is signed by that key inside the module; the authority issues the certificate; it is
 * verified against the CA and its serial sealed into the package, in the same commit that
 * records the meter.
 *
 * @example const meter = await generateMeter(dependencies, { customerNumber: 1001, licensingZip: '10001', maxDescendingRegister: mills(500_000) });
 */
export async function generateMeter(
  dependencies: MeterGenDependencies,
  request: NewMeterRequest,
  placement?: MeterPlacement,
): Promise<GeneratedMeter> {
  const { db, custody, settings } = dependencies;
  const mode = placement?.mode ?? 'dedicated';
  if (!/^\d{5}$/.test(request.licensingZip)) {
    throw new MeterError(
      'meter.request_invalid',
      `The licensing ZIP must be 5 digits; got "${request.licensingZip}".`,
    );
  }
  if (
    !Number.isSafeInteger(request.customerNumber) ||
    request.customerNumber < (mode === 'dedicated' ? 1 : 0) ||
    request.customerNumber >= 2 ** 40
  ) {
    throw new MeterError(
      'meter.request_invalid',
      'The customer number must be a whole number from 1 to 2^40 − 1.',
    );
  }
  if (
    !Number.isSafeInteger(request.maxDescendingRegister) ||
    request.maxDescendingRegister <= 0 ||
    request.maxDescendingRegister >= 2 ** 48
  ) {
    throw new MeterError(
      'meter.request_invalid',
      'The maximum descending register must be a positive number of mills below 2^48.',
    );
  }
  const algorithm = request.algorithm ?? 'ecdsa-p256';
  const modelId = placement?.modelId ?? settings.dedicatedModelId;
  const serial = placement?.serial ?? (await nextSerial(db, modelId));
  const meterId = formatMeterNumber({ manufacturerId: settings.manufacturerId, modelId, serial });
  const created = await custody.createMeterPackage({
    meterId,
    maxDescendingRegister: request.maxDescendingRegister,
    licensingZip: request.licensingZip,
    algorithm,
    keyValidityDays: settings.keyValidityDays,
  });
  const certificate = await certifyMeterKey(dependencies, meterId, created.view);
  const now = new Date().toISOString();
  const recorded = await custody.execute(
    meterId,
    [{ operation: { type: 'update', certificateSerial: certificate.serial } }],
    async (trx) => {
      await trx
        .insertInto('meters')
        .values({
          meter_id: meterId,
          mode,
          customer_number: request.customerNumber,
          status: 'active',
          licensing_zip: request.licensingZip,
          certificate_serial: certificate.serial,
          max_descending_register_mills: request.maxDescendingRegister,
          created_at: now,
          updated_at: now,
        })
        .execute();
    },
  );
  return { meterId, certificate, view: recorded.view };
}
