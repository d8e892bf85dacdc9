import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isIndiciaError } from '../errors/index.ts';
import type { ServerMetrics } from '../telemetry/index.ts';
import { GENERIC_MESSAGES, presentationFor } from './error-statuses.ts';
import type { ErrorResponse } from './schemas.ts';

interface Resolved {
  status: number;
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** Fastify's own request errors (bad JSON, wrong content type, too large) by their codes. */
const FRAMEWORK_ERRORS: Readonly<Record<string, { code: string; status: number }>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'request.unsupported_media_type', status: 415 },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'request.too_large', status: 413 },
};

/** Every field the schema refused, at once (ajv allErrors): one sentence, and a list per field. */
function invalidFields(framework: Partial<FastifyError>): Resolved {
  const where = framework.validationContext ?? 'request';
  const seen = new Set<string>();
  const errors: { field: string; message: string }[] = [];
  for (const problem of framework.validation ?? []) {
    const missing = (problem.params as { missingProperty?: unknown } | undefined)?.missingProperty;
    const field = `${problem.instancePath}${typeof missing === 'string' ? `/${missing}` : ''}`;
    const message = typeof missing === 'string' ? 'is required' : (problem.message ?? 'is invalid');
    // One line per field and message: anyOf/union branches repeat themselves.
    const key = `${field} ${message}`;
    if (seen.has(key) || errors.length >= 50) continue;
    seen.add(key);
    errors.push({ field, message });
  }
  const [first] = errors;
  const describe = (entry: { field: string; message: string }): string =>
    entry.field === '' ? `it ${entry.message}` : `${entry.field} ${entry.message}`;
  const message =
    first === undefined
      ? `The ${where} is invalid.`
      : errors.length === 1
        ? `The ${where}${first.field === '' ? '' : ` field ${first.field}`} ${first.message}.`
        : `The ${where} has ${errors.length} problems: ${errors.map(describe).join('; ')}.`;
  return {
    status: 400,
    code: 'request.invalid',
    message,
    details: {
      location: where,
      ...(first !== undefined && first.field !== '' ? { field: first.field } : {}),
      errors,
    },
  };
}

function resolve(error: unknown): Resolved {
  if (isIndiciaError(error)) {
    const presentation = presentationFor(error.code);
    const message = presentation.isMessagePublic
      ? error.message
      : (GENERIC_MESSAGES[presentation.status] ?? GENERIC_MESSAGES[500] ?? '');
    const details = presentation.isMessagePublic ? error.details : undefined;
    return {
      status: presentation.status,
      code: error.code,
      message,
      ...(details ? { details: { ...details } } : {}),
    };
  }
  const framework = error as Partial<FastifyError>;
  if (framework.validation !== undefined) return invalidFields(framework);
  const mapped = framework.code === undefined ? undefined : FRAMEWORK_ERRORS[framework.code];
  if (mapped !== undefined) return { ...mapped, message: framework.message ?? 'The request was refused.' };
  const status = framework.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && typeof framework.message === 'string') {
    // Other client errors raised by Fastify (malformed JSON and the like) have safe messages.
    return { status, code: 'request.invalid', message: framework.message };
  }
  return { status: 500, code: 'internal', message: GENERIC_MESSAGES[500] ?? '' };
}

function send(request: FastifyRequest, reply: FastifyReply, resolved: Resolved): FastifyReply {
  const body: ErrorResponse = {
    error: {
      code: resolved.code,
      message: resolved.message,
      requestId: request.id,
      ...(resolved.details ? { details: resolved.details } : {}),
    },
  };
  const retryAfter = resolved.details?.['retryAfterSeconds'];
  if (typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
  return reply.status(resolved.status).type('application/json; charset=utf-8').send(body);
}

/**
 * Installs the one error handler: every error becomes `{ error: { code, message, requestId } }`
 * with the status from the code table. Stacks and internal messages go to the log only.
 */
export function installErrorHandler(app: FastifyInstance, metrics: ServerMetrics): void {
  app.setErrorHandler((error, request, reply) => {
    const resolved = resolve(error);
    metrics.errorsByCode.inc({ code: resolved.code });
    if (resolved.status >= 500) request.log.error({ err: error, code: resolved.code }, 'request failed');
    else request.log.info({ code: resolved.code, message: resolved.message }, 'request refused');
    return send(request, reply, resolved);
  });
  app.setNotFoundHandler((request, reply) => {
    metrics.errorsByCode.inc({ code: 'request.not_found' });
    return send(request, reply, {
      status: 404,
      code: 'request.not_found',
      message: `There is no ${request.method} ${request.url.split('?')[0] ?? ''}; see /docs for the API.`,
    });
  });
}
