import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { canonicalJson } from '../encoding/index.ts';
import { MeterError, type SignedReceipt, newChallenge } from '../meters/index.ts';
import type { ClientAuthorization } from '../vault/index.ts';
import { ApiError } from './api-error.ts';

export const CHALLENGE_HEADER = 'indicia-challenge';
export const REGISTERS_HEADER = 'indicia-registers';
export const SIGNATURE_HEADER = 'indicia-signature';
export const DEVICE_HEADER = 'indicia-device';

const BASE64 = /^[A-Za-z0-9+/]{43}=$/;
/** A device id as enrollment makes them (`dev_` and a UUID). */
export const DEVICE_ID = /^dev_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * What a device MACs about the request itself: method, path (with query) and the SHA-256 of the
 * canonical JSON of the body (sorted keys), one per line. Canonical, so whitespace and key order
 * in transit do not matter, while any change of value does.
 */
export function requestDigest(method: string, url: string, body: unknown): string {
  const bodyText = body === undefined || body === null ? '' : canonicalJson(body);
  return [method.toUpperCase(), url, createHash('sha256').update(bodyText).digest('hex')].join('\n');
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value.trim() : undefined;
}

/**
 * The device signature a value-moving request carries (Indicia-Device, Indicia-Challenge,
 * Indicia-Registers, Indicia-Signature), with a fresh challenge to issue next. Checking it is the
 * module's job; here only its form is checked. Without Indicia-Device it is a v1 request.
 */
export function authorizationOf(request: FastifyRequest): ClientAuthorization {
  const challenge = header(request, CHALLENGE_HEADER);
  const registers = header(request, REGISTERS_HEADER);
  const signature = header(request, SIGNATURE_HEADER);
  const deviceId = header(request, DEVICE_HEADER);
  if (challenge === undefined || registers === undefined || signature === undefined)
    throw new ApiError(
      'request.unsigned',
      'Requests that move value must be signed by an enrolled device: send the Indicia-Device, Indicia-Challenge, Indicia-Registers and Indicia-Signature headers (the SDK does this; see docs/client-protocol.md).',
    );
  const match = /^(\d{1,16}),(\d{1,16})$/.exec(registers);
  if (!BASE64.test(challenge) || !BASE64.test(signature) || match === null)
    throw new ApiError(
      'request.unsigned',
      'The device signature headers are malformed: Indicia-Challenge and Indicia-Signature are base64 of 32 bytes, Indicia-Registers is "AR,DR" in mills.',
    );
  if (deviceId !== undefined && !DEVICE_ID.test(deviceId))
    throw new ApiError(
      'request.unsigned',
      'The Indicia-Device header is malformed: it is the id enrollment answered, dev_ and a UUID.',
    );
  return {
    deviceId: deviceId ?? null,
    challenge,
    ascendingRegister: Number(match[1]),
    descendingRegister: Number(match[2]),
    request: requestDigest(request.method, request.url, request.body),
    mac: Buffer.from(signature, 'base64'),
    nextChallenge: newChallenge(),
  };
}

/**
 * What every value-moving answer ends with: the receipt, the next challenge, and the registers the
 * device keeps — the ones the receipt states (its meter's, or a pooled customer's client package's).
 */
export function signedAnswerParts(
  receipt: SignedReceipt | null | undefined,
  authorization: ClientAuthorization,
): {
  receipt: SignedReceipt;
  challenge: string;
  registers: { ascendingRegisterMills: number; descendingRegisterMills: number };
} {
  if (receipt === null || receipt === undefined)
    throw new MeterError('meter.request_invalid', 'The receipt is missing.');
  return {
    receipt,
    challenge: authorization.nextChallenge,
    registers: {
      ascendingRegisterMills: receipt.body.ascendingRegisterMills,
      descendingRegisterMills: receipt.body.descendingRegisterMills,
    },
  };
}
