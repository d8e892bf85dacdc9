import { argon2, randomBytes, timingSafeEqual } from 'node:crypto';

/** OWASP's argon2id recommendation: 19 MiB of memory, 2 passes, 1 lane. */
export const PASSWORD_HASH_PARAMETERS = { memoryKiB: 19_456, passes: 2, parallelism: 1 } as const;

export interface PasswordHashParameters {
  readonly memoryKiB: number;
  readonly passes: number;
  readonly parallelism: number;
}

const TAG_LENGTH = 32;
const SALT_LENGTH = 16;
const PHC = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

function derive(
  password: string,
  salt: Buffer,
  parameters: PasswordHashParameters,
  length: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    argon2(
      'argon2id',
      {
        message: password,
        nonce: salt,
        parallelism: parameters.parallelism,
        tagLength: length,
        memory: parameters.memoryKiB,
        passes: parameters.passes,
      },
      (error, key) => (error === null ? resolve(key) : reject(error)),
    );
  });
}

const unpadded = (buffer: Buffer): string => buffer.toString('base64').replace(/=+$/, '');

/**
 * Hashes a password with argon2id into a PHC string (the format other tools read).
 *
 * @example await hashPassword('correct horse') // '$argon2id$v=19$m=19456,t=2,p=1$…$…'
 */
export async function hashPassword(
  password: string,
  parameters: PasswordHashParameters = PASSWORD_HASH_PARAMETERS,
): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const tag = await derive(password, salt, parameters, TAG_LENGTH);
  const { memoryKiB, passes, parallelism } = parameters;
  return `$argon2id$v=19$m=${memoryKiB},t=${passes},p=${parallelism}$${unpadded(salt)}$${unpadded(tag)}`;
}

export interface PasswordCheck {
  readonly isMatch: boolean;
  /** True when the hash used weaker parameters than today's; rehash on a successful sign-in. */
  readonly needsRehash: boolean;
}

/** Checks a password against a PHC argon2id hash in constant time. A malformed hash never matches. */
export async function verifyPassword(
  password: string,
  phc: string,
  current: PasswordHashParameters = PASSWORD_HASH_PARAMETERS,
): Promise<PasswordCheck> {
  const match = PHC.exec(phc);
  if (match === null) return { isMatch: false, needsRehash: true };
  const [, memory, passes, parallelism, saltText = '', tagText = ''] = match;
  const parameters = { memoryKiB: Number(memory), passes: Number(passes), parallelism: Number(parallelism) };
  const expected = Buffer.from(tagText, 'base64');
  const actual = await derive(password, Buffer.from(saltText, 'base64'), parameters, expected.length);
  const isMatch = actual.length === expected.length && timingSafeEqual(actual, expected);
  const needsRehash =
    parameters.memoryKiB < current.memoryKiB ||
    parameters.passes < current.passes ||
    parameters.parallelism < current.parallelism;
  return { isMatch, needsRehash };
}
