import { IndiciaError } from '../errors/index.ts';

export type MailErrorCode = 'mail.unavailable';

export class MailError extends IndiciaError<MailErrorCode> {}
