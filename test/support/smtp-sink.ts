import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface SmtpSink {
  /** smtp://127.0.0.1:<port> for INDICIA_SMTP_URL. */
  readonly url: string;
  readonly messages: ParsedMail[];
  /** The first message to `to` whose text matches, waiting up to `timeoutMs` for it. */
  waitFor(to: string, pattern: RegExp, timeoutMs?: number): Promise<ParsedMail>;
  close(): Promise<void>;
}

/**
 * A real SMTP server on loopback (the `smtp-server` package) that keeps every message it is sent,
 * parsed: tests read verification and reset links from actual SMTP exchanges. No TLS, no auth.
 */
export async function startSmtpSink(): Promise<SmtpSink> {
  const messages: ParsedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          messages.push(parsed);
          callback();
        })
        .catch((error: unknown) => callback(error instanceof Error ? error : new Error(String(error))));
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;
  const recipientOf = (message: ParsedMail): string => {
    const to = Array.isArray(message.to) ? message.to[0] : message.to;
    return to?.value[0]?.address ?? '';
  };
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    async waitFor(to, pattern, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find(
          (message) => recipientOf(message) === to && pattern.test(message.text ?? ''),
        );
        if (found !== undefined) return found;
        if (Date.now() > deadline)
          throw new Error(`No message to ${to} matching ${pattern} within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
