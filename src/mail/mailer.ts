import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { MailError } from './mail-error.ts';

export interface MailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
}

export interface Mailer {
  /** How mail leaves this server, for the start banner and logs (never holds a password). */
  readonly description: string;
  /** Sends one message; resolves once the SMTP server accepted it (or it is in the outbox). */
  send(message: MailMessage): Promise<void>;
  close(): void;
}

export interface MailSettings {
  /** smtp:// or smtps:// URL of the relay; when absent, messages go to `outboxDir` as .eml files. */
  readonly smtpUrl: string | undefined;
  readonly from: string;
  readonly outboxDir: string;
}

/** The relay's address without credentials, for messages. */
function relayOf(smtpUrl: string): string {
  const url = new URL(smtpUrl);
  return `${url.protocol}//${url.host}`;
}

/**
 * The server's outgoing mail: an SMTP relay when `smtpUrl` is set (nodemailer, STARTTLS when the
 * relay offers it), else an **outbox folder** — each message written as an RFC 5322 `.eml` file
 * for an operator to read or forward. The outbox is what the embedded default uses: a fresh
 * install has no relay, and it says so in the start banner.
 *
 * @example const mailer = createMailer({ smtpUrl: 'smtp://127.0.0.1:2525', from: 'Indicia <no-reply@example.com>', outboxDir });
 */
export function createMailer(settings: MailSettings): Mailer {
  if (settings.smtpUrl !== undefined) {
    const relay = relayOf(settings.smtpUrl);
    const transport = createTransport(settings.smtpUrl);
    return {
      description: `SMTP relay ${relay}`,
      async send(message) {
        try {
          await transport.sendMail({ from: settings.from, ...message });
        } catch (error) {
          throw new MailError(
            'mail.unavailable',
            `The mail relay ${relay} did not accept a message (${error instanceof Error ? error.message : 'unknown error'}).`,
            { cause: error },
          );
        }
      },
      close: () => transport.close(),
    };
  }
  const transport = createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    description: `outbox folder ${settings.outboxDir} (no SMTP relay configured)`,
    async send(message) {
      const sent = await transport.sendMail({ from: settings.from, ...message });
      mkdirSync(settings.outboxDir, { recursive: true, mode: 0o700 });
      const name = `${new Date().toISOString().replaceAll(':', '-')}-${sent.messageId.replace(/[^A-Za-z0-9.@-]/g, '')}.eml`;
      // buffer: true makes the message a Buffer, not a stream.
      writeFileSync(join(settings.outboxDir, name), sent.message as Buffer, { mode: 0o600 });
    },
    close: () => transport.close(),
  };
}
