import type { FastifyInstance, RouteOptions } from 'fastify';
import { Type } from 'typebox';
import type { Access } from './authentication.ts';
import { presentationFor } from './error-statuses.ts';

/** How a caller proves who it is, as OpenAPI states it (docs/api.md explains each). */
export const SECURITY_SCHEMES = {
  apiKey: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'ik_…',
    description:
      'An API key (`Authorization: Bearer ik_…`) made at POST /v1/api-keys. Each key holds scopes; a route names the scope it needs. `keys:manage` lets a key create, list and revoke keys (granting and revoking only scopes it holds itself), `webhooks:manage` lets it manage webhooks: a headless backend needs no password.',
  },
  sessionCookie: {
    type: 'apiKey',
    in: 'cookie',
    name: 'indicia_session',
    description: 'The HttpOnly session cookie that POST /v1/sessions sets (browsers).',
  },
  csrfToken: {
    type: 'apiKey',
    in: 'header',
    name: 'X-CSRF-Token',
    description:
      "The session's `session.csrfToken` from sign-in; required with the session cookie on POST, PUT, PATCH and DELETE.",
  },
} as const;

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * What each value-moving or domain route can refuse with, beyond what every route of its kind
 * can (validation, authentication, rate limits): the codes a client should handle. A route
 * missing here still documents its generic codes; every code must be in the status table.
 */
const SIGNED = ['request.unsigned', 'psd.no_device', 'psd.client_unauthenticated', 'psd.stale_challenge'];
const ISSUING = [
  ...SIGNED,
  'meter.not_found',
  'meter.not_active',
  'meter.mailing_date_invalid',
  'meter.certificate_invalid',
  'meter.insufficient_balance',
  'meter.pool_empty',
  'psd.insufficient_funds',
  'psd.not_active',
  'psd.invalid_amount',
  'rate.invalid',
  'rate.not_found',
  'vault.service_stopped',
];
export const ROUTE_ERRORS: Readonly<Record<string, readonly string[]>> = {
  'POST /v1/accounts': ['account.invalid', 'account.email_taken', 'address.invalid'],
  'POST /v1/sessions': ['account.sign_in_failed', 'account.locked'],
  'POST /v1/email-verifications': ['account.token_invalid'],
  'POST /v1/password-resets/confirm': ['account.token_invalid'],
  'POST /v1/api-keys': ['account.invalid'],
  'DELETE /v1/api-keys/:id': ['account.api_key_not_found'],
  'GET /v1/webhooks/:id/deliveries': ['webhook.not_found'],
  'POST /v1/indicia': [
    ...ISSUING,
    'label.address_missing',
    'request.idempotency_key_reused',
    'request.conflict',
  ],
  'POST /v1/funds': [
    ...SIGNED,
    'meter.not_found',
    'psd.max_dr_exceeded',
    'payment.card_invalid',
    'payment.declined',
    'payment.failed',
    'request.idempotency_key_reused',
    'request.conflict',
    'vault.service_stopped',
  ],
  'POST /v1/indicia/:id/refund': [
    ...SIGNED,
    'meter.indicium_not_found',
    'meter.indicium_not_valid',
    'meter.refund_limit',
    'meter.refund_already_requested',
    'meter.refund_window_closed',
    'meter.piece_used',
    'meter.not_active',
    'request.conflict',
  ],
  'GET /v1/refund-requests/:id': ['meter.refund_request_not_found'],
  'POST /v1/admin/refund-requests/:id/decision': [
    'meter.refund_request_not_found',
    'meter.refund_request_decided',
    'meter.piece_used',
    'meter.indicium_not_valid',
    'meter.not_active',
  ],
  'PUT /v1/admin/customers/:customerNumber/pricing-plan': ['meter.pricing_plan_unknown', 'meter.not_found'],
  'POST /v1/indicia/:id/correction': [
    ...ISSUING,
    'meter.indicium_not_found',
    'meter.indicium_not_valid',
    'meter.refund_already_requested',
  ],
  'POST /v1/label-sheets/:serial/print': [
    ...ISSUING,
    'label.serial_unknown',
    'label.serial_used',
    'label.sheet_unknown',
    'label.sheet_exhausted',
  ],
  'POST /v1/mailing-lists': ['mailing_list.invalid', 'rate.invalid', 'rate.not_found'],
  'POST /v1/mailing-lists/:id/print': [
    ...ISSUING,
    'mailing_list.not_found',
    'mailing_list.has_errors',
    'mailing_list.changed',
    'mailing_list.not_in_review',
  ],
  'GET /v1/mailing-lists/:id/pdf': ['mailing_list.not_found', 'mailing_list.not_printed'],
  'GET /v1/indicia/:id': ['meter.indicium_not_found'],
  'GET /v1/indicia/:id/label': ['meter.indicium_not_found', 'label.address_missing', 'label.ad_unknown'],
  'GET /v1/receipts/:id': ['meter.receipt_not_found'],
  'POST /v1/verify': ['indicium.malformed', 'indicium.field_invalid', 'indicium.meter_number_invalid'],
  'POST /v1/devices': ['vault.enrollment_invalid', 'meter.device_not_enrolled'],
  'POST /v1/addresses/verify': ['address.invalid'],
  'POST /v1/rates': ['rate.invalid', 'rate.not_found'],
  'POST /v1/webhooks': ['webhook.invalid'],
  'DELETE /v1/webhooks/:id': ['webhook.not_found'],
  'GET /v1/certificates/:serial': ['authority.certificate_not_found'],
};

/** Who may call a route, as OpenAPI security requirements: an API key with the scope, or a session. */
export function securityFor(access: Access, method: string): Record<string, string[]>[] {
  if ('public' in access) return [];
  const session: Record<string, string[]> = UNSAFE.has(method)
    ? { sessionCookie: [], csrfToken: [] }
    : { sessionCookie: [] };
  return access.scope === undefined ? [session] : [{ apiKey: [access.scope] }, session];
}

/** The error codes a route can answer with: its own, and those every route of its kind can. */
export function errorCodesFor(
  route: Pick<RouteOptions, 'url' | 'schema' | 'config'>,
  method: string,
): string[] {
  const access = route.config?.access;
  const codes = new Set<string>(['request.rate_limited']);
  const schema = route.schema ?? {};
  if (schema.body !== undefined || schema.querystring !== undefined || schema.params !== undefined)
    codes.add('request.invalid');
  if (schema.body !== undefined) codes.add('request.too_large').add('request.unsupported_media_type');
  if (access !== undefined && !('public' in access)) {
    codes.add('account.unauthenticated').add('account.forbidden');
    if (UNSAFE.has(method)) codes.add('account.csrf_failed');
    if (access.verifiedEmail === true) codes.add('account.not_verified');
  }
  for (const code of ROUTE_ERRORS[`${method} ${route.url}`] ?? []) codes.add(code);
  return [...codes];
}

function describeAccess(access: Access): string {
  if ('public' in access) return '**Who may call:** anyone (no credentials).';
  const roles = access.roles.map((role) => `\`${role}\``).join(', ');
  const key =
    access.scope === undefined
      ? 'a signed-in session only (API keys are refused)'
      : `an API key with scope \`${access.scope}\`, or a signed-in session`;
  return `**Who may call:** roles ${roles}; with ${key}${access.verifiedEmail === true ? '; customers must have confirmed their e-mail address' : ''}.`;
}

/**
 * Documents every route from what it declares: its security requirements (from its access rule),
 * who may call it in words, and each error status with the codes it can carry. Installed before
 * the routes register, so the OpenAPI document and the behaviour come from the same declaration.
 */
export function installRouteDocumentation(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (route.schema === undefined || route.schema.hide === true) return;
    const method = [route.method].flat()[0] ?? 'GET';
    const access = route.config?.access;
    const responses = (route.schema.response ?? {}) as Record<string, unknown>;
    const byStatus = new Map<number, string[]>();
    for (const code of errorCodesFor(route, method)) {
      const { status } = presentationFor(code);
      byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
    }
    for (const [status, codes] of [...byStatus].sort(([left], [right]) => left - right)) {
      responses[String(status)] ??= Type.Ref('ErrorResponse', {
        description: `Refused: ${codes.map((code) => `\`${code}\``).join(', ')}.`,
      });
    }
    responses['5XX'] ??= Type.Ref('ErrorResponse', { description: 'A failure on our side: `internal`.' });
    route.schema.response = responses;
    if (access !== undefined) {
      route.schema.security = securityFor(access, method);
      route.schema.description = [route.schema.description, describeAccess(access)]
        .filter((part) => part !== undefined && part !== '')
        .join('\n\n');
    }
  });
}
