import type { BackendFixture } from './crypto-backends.ts';
import { pkcs11Fixture, softwareFixture } from './crypto-backends.ts';

/** Every crypto backend; vault contract suites loop over this list and never skip one. */
export const backendFixtures: readonly BackendFixture[] = [softwareFixture, pkcs11Fixture];
