import type { BackendFixture } from './crypto-backends.ts';
import { softwareFixture } from './crypto-backends.ts';

/** Every crypto backend; vault contract suites loop over this list and never skip one. */
export const backendFixtures: readonly BackendFixture[] = [softwareFixture];
