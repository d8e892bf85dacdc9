import { randomBytes } from 'node:crypto';

/** A password a person can type: 20 characters from an alphabet without look-alikes (~100 bits). */
export function generatePassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = randomBytes(40);
  let password = '';
  for (const byte of bytes) {
    // Rejection sampling keeps every character equally likely.
    if (byte < 256 - (256 % alphabet.length)) password += alphabet.charAt(byte % alphabet.length);
    if (password.length === 20) break;
  }
  return password.length === 20 ? password : generatePassword();
}
