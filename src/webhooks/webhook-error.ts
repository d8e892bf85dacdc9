import { IndiciaError } from '../errors/index.ts';

export type WebhookErrorCode = 'webhook.invalid' | 'webhook.not_found';

export class WebhookError extends IndiciaError<WebhookErrorCode> {}
