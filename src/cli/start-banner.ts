import type { RunningIndicia } from '../main.ts';

/** What a person sees after `indicia serve` starts: the URL, where data lives, first-start secrets. */
export function printStartBanner(running: RunningIndicia, write: (text: string) => void): void {
  const { url, store, config, demoCredentials, keyEncryptionKey, createdOfficerCredential, pool } = running;
  const { enrollmentKeyFingerprint, mailer } = running;
  const modules = pool.status().modules;
  const lines = [
    '',
    `Indicia is running at ${url}`,
    `  API docs   ${url}/docs`,
    `  health     ${url}/healthz`,
    `  database   ${store.dialect} ${store.location}`,
    `  data dir   ${config.dataDir}`,
    `  modules    ${modules.length} × ${config.cryptoBackend} (${modules.map((module) => `${module.serial} ${module.state === 'user' ? 'ok' : module.state}`).join(', ')})`,
    `  mail       ${mailer.description}`,
    '  payments   SANDBOX card processor: test cards only, no real money (docs/api.md)',
    `  devices    enrollment key fingerprint ${enrollmentKeyFingerprint}`,
    '             (clients pin it: docs/client-protocol.md)',
  ];
  if (keyEncryptionKey?.isNew === true) {
    lines.push(
      '',
      `Created the key-encryption key ${keyEncryptionKey.path} (fingerprint ${keyEncryptionKey.fingerprint}).`,
      'Back it up apart from the database: sealed data cannot be read without it.',
    );
  }
  if (createdOfficerCredential !== undefined) {
    lines.push(
      '',
      "Created the crypto modules' keys. The crypto-officer credential (for `indicia modules` key management)",
      `is shown this once and stored only as a hash:  ${createdOfficerCredential}`,
    );
  }
  if (demoCredentials.length > 0) {
    lines.push(
      '',
      'First start: demo accounts created. Their passwords are shown this once and stored only as hashes:',
    );
    for (const credential of demoCredentials) {
      lines.push(
        `  ${`${credential.label} (${credential.role})`.padEnd(26)} ${credential.email.padEnd(30)} ${credential.password}`,
      );
    }
  }
  const customer = demoCredentials.find((credential) => credential.role === 'customer');
  if (customer !== undefined) {
    // README "Your first label" starts from this line: the values a client needs, ready to paste.
    lines.push(
      '',
      'Your first label (README, "Your first label"): in a second terminal, in this folder, paste',
      `  export INDICIA_URL=${url} INDICIA_PASSWORD=${customer.password} INDICIA_FINGERPRINT=${enrollmentKeyFingerprint}`,
    );
  }
  lines.push('', 'Press Ctrl+C to stop.', '');
  write(lines.join('\n'));
}
