import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { MetersService } from '../../meters/index.ts';
import type { EnrollmentRequest } from '../../vault/index.ts';
import { principalOf } from '../authentication.ts';
import type { CustomerIssuer } from '../customer-issuer.ts';
import { authorizationOf } from '../signed-request.ts';
import {
  Device,
  DeviceParams,
  EnrollmentAnswer,
  RenewalBody,
  deviceJson,
  enrollmentJson,
} from './device-schemas.ts';
import { EnrollmentBody } from './value-schemas.ts';

export interface DeviceRouteDependencies {
  readonly meters: Pick<
    MetersService,
    'enrollmentKey' | 'enrollDevice' | 'devices' | 'device' | 'revokeDevice' | 'renewDevice'
  >;
  readonly issuer: Pick<CustomerIssuer, 'accountOf'>;
}

const CUSTOMER = ['customer'] as const;

function enrollmentRequest(body: {
  ephemeralPublicKey: string;
  clientChallenge: string;
  iv: string;
  encryptedHmk: string;
}): EnrollmentRequest {
  return {
    ephemeralPublicKey: Buffer.from(body.ephemeralPublicKey, 'base64'),
    clientChallenge: Buffer.from(body.clientChallenge, 'base64'),
    iv: Buffer.from(body.iv, 'base64'),
    encryptedHmk: Buffer.from(body.encryptedHmk, 'base64'),
  };
}

/**
 * The signed client protocol's devices (docs/client-protocol.md): the enrollment key, enrolling
 * one more device for the customer's meter or client package, listing them, revoking one, and a
 * device's renewal of its own key, signed with the key it replaces.
 */
export function deviceRoutes({ meters, issuer }: DeviceRouteDependencies): FastifyPluginAsyncTypebox {
  const meterOf = async (request: Parameters<typeof principalOf>[0]): Promise<string> =>
    (await issuer.accountOf(principalOf(request))).meterId;

  return (app) => {
    app.addSchema(Device);
    const deviceRef = Type.Ref('Device');

    app.get(
      '/v1/devices/enrollment-key',
      {
        config: { access: { public: true } },
        schema: {
          tags: ['devices'],
          summary: "The installation's device-enrollment public key; pin its fingerprint in the client",
          response: {
            200: Type.Object({
              algorithm: Type.Literal('ECDH-P256'),
              publicKey: Type.String({ description: 'SubjectPublicKeyInfo DER, base64' }),
              fingerprint: Type.String({ description: 'SHA-256 of the DER, hex' }),
            }),
          },
        },
      },
      async () => {
        const { publicKey, fingerprint } = await meters.enrollmentKey();
        return { algorithm: 'ECDH-P256' as const, publicKey: publicKey.toString('base64'), fingerprint };
      },
    );

    app.post(
      '/v1/devices',
      {
        config: { access: { roles: CUSTOMER, scope: 'devices:enroll', verifiedEmail: true } },
        schema: {
          tags: ['devices'],
          summary:
            'Enroll one more device: its HMK, encrypted to the enrollment key, is added to your meter (up to 16)',
          body: EnrollmentBody,
          response: { 201: EnrollmentAnswer },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const enrolled = await meters.enrollDevice(await meterOf(request), enrollmentRequest(request.body), {
          accountId: principal.accountId,
          name: request.body.name.trim(),
        });
        return reply.status(201).send(enrollmentJson(enrolled));
      },
    );

    app.get(
      '/v1/devices',
      {
        config: { access: { roles: CUSTOMER, scope: 'meter:read', verifiedEmail: true } },
        schema: {
          tags: ['devices'],
          summary: "Your meter's devices: each one's challenge, registers and key life span",
          response: { 200: Type.Object({ devices: Type.Array(deviceRef) }) },
        },
      },
      async (request) => ({ devices: (await meters.devices(await meterOf(request))).map(deviceJson) }),
    );

    app.get(
      '/v1/devices/:id',
      {
        config: { access: { roles: CUSTOMER, scope: 'meter:read', verifiedEmail: true } },
        schema: {
          tags: ['devices'],
          summary: 'One device: the challenge and registers it signs its next request with',
          params: DeviceParams,
          response: { 200: deviceRef },
        },
      },
      async (request) => deviceJson(await meters.device(await meterOf(request), request.params.id)),
    );

    app.delete(
      '/v1/devices/:id',
      {
        config: { access: { roles: CUSTOMER, scope: 'devices:enroll', verifiedEmail: true } },
        schema: {
          tags: ['devices'],
          summary: 'Revoke a device: the module drops its key, and refuses its requests from now on',
          params: DeviceParams,
          response: { 200: deviceRef },
        },
      },
      async (request) => deviceJson(await meters.revokeDevice(await meterOf(request), request.params.id)),
    );

    app.post(
      '/v1/devices/:id/renewal',
      {
        config: { access: { roles: CUSTOMER, scope: 'devices:enroll', verifiedEmail: true } },
        schema: {
          tags: ['devices'],
          summary:
            "Renew a device's key before it ends: a new HMK, signed by the device with its current one",
          params: DeviceParams,
          body: RenewalBody,
          response: { 200: EnrollmentAnswer },
        },
      },
      async (request) => {
        const authorization = authorizationOf(request);
        const renewed = await meters.renewDevice(
          await meterOf(request),
          request.params.id,
          enrollmentRequest(request.body),
          authorization,
        );
        return enrollmentJson(renewed);
      },
    );
    return Promise.resolve();
  };
}
