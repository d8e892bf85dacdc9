import type { ErrorBody } from './types.ts';

/** An error answer from the API: its stable code, the message for a person, the request id. */
export class IndiciaApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(status: number, body: ErrorBody['error']) {
    super(body.message);
    this.name = 'IndiciaApiError';
    this.status = status;
    this.code = body.code;
    this.requestId = body.requestId;
    this.details = body.details;
  }
}
