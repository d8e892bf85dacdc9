import assert from 'node:assert/strict';
import { IndiciaApiError, type Registration } from '../../src/client/index.ts';

export const PASSWORD = 'correct horse battery staple';

/** A complete sign-up (dedicated meter, street address, a PO Box to mail to). */
export function registration(email: string, overrides: Partial<Registration> = {}): Registration {
  return {
    email,
    password: PASSWORD,
    name: 'Ada Lovelace',
    company: 'Analytical Engines Ltd',
    phone: '+1 212 555 0100',
    physicalAddress: {
      line1: '350 Fifth Avenue',
      line2: 'Suite 4100',
      city: 'New York',
      state: 'NY',
      zip: '10118',
    },
    mailingAddress: { line1: 'PO Box 1234', city: 'New York', state: 'NY', zip: '10118' },
    licensingZip: '10118',
    postOffice: { name: 'Empire State', state: 'NY', zip: '10118' },
    meterMode: 'dedicated',
    ...overrides,
  };
}

/** The API error a call throws, for asserting its code and status. */
export async function refusal(call: Promise<unknown>): Promise<IndiciaApiError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof IndiciaApiError) return error;
    throw error;
  }
  assert.fail('the call succeeded');
}
