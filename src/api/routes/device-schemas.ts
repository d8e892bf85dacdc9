import { Type } from 'typebox';
import type { DeviceEnrollment, DeviceRecord } from '../../meters/index.ts';
import { DEVICE_ID } from '../signed-request.ts';
import { EnrollmentBody, Registers } from './value-schemas.ts';

export const DeviceParams = Type.Object({
  id: Type.String({ pattern: DEVICE_ID.source, description: 'The device id enrollment answered' }),
});

/** A renewal carries a new HMK exactly as an enrollment does, for the device it renews. */
export const RenewalBody = Type.Omit(EnrollmentBody, ['name'], { additionalProperties: false });

export const Device = Type.Object(
  {
    id: Type.String({ examples: ['dev_0d6f1c1e-3b8e-4a51-9c3c-2f7d1b9e8a40'] }),
    name: Type.String({ examples: ['packing station 3'] }),
    status: Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('revoked')], {
      description: 'The module refuses expired and revoked devices',
    }),
    enrolledAt: Type.String({ format: 'date-time' }),
    keyIssuedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'When the current key was sealed: enrollment or the last renewal',
    }),
    expiresAt: Type.String({
      format: 'date-time',
      description: 'The module refuses the key from then on; renew it before (POST /v1/devices/{id}/renewal)',
    }),
    revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    challenge: Type.Union([Type.String(), Type.Null()], {
      description: 'The challenge this device signs its next request with (each device has its own)',
    }),
    registers: Type.Object(Registers.properties, {
      description:
        'The registers the module reported to this device with that challenge: it signs with these',
    }),
  },
  { $id: 'Device' },
);

export const EnrollmentAnswer = Type.Object({
  device: Type.Ref('Device'),
  challenge: Type.String({ description: 'Sign your next request with this challenge' }),
  confirmation: Type.String({ description: 'The module’s HMAC over your challenge and this one: check it' }),
  registers: Registers,
});

export function deviceJson(device: DeviceRecord) {
  const { ascendingRegister, descendingRegister, ...rest } = device;
  return {
    ...rest,
    registers: { ascendingRegisterMills: ascendingRegister, descendingRegisterMills: descendingRegister },
  };
}

/** The answer to an enrollment or a renewal: the device, its next challenge, the module's proof. */
export function enrollmentJson(enrolled: DeviceEnrollment) {
  const device = deviceJson(enrolled.device);
  return {
    device,
    challenge: device.challenge ?? '',
    confirmation: enrolled.confirmation.toString('base64'),
    registers: device.registers,
  };
}
