export { MailError, type MailErrorCode } from './mail-error.ts';
export { createMailer, type MailMessage, type MailSettings, type Mailer } from './mailer.ts';
