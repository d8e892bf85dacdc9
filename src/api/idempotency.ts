import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { canonicalJson } from '../encoding/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import { ApiError } from './api-error.ts';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'idempotent-replayed';
/** Keys are kept this long; after that the same key starts afresh. */
export const IDEMPOTENCY_KEY_LIFETIME_MS = 24 * 3_600_000;
const KEY = /^[\x21-\x7e]{1,255}$/;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `refused` for POSTs whose answer holds a secret shown once (sign-in, API keys): never stored. */
    idempotency?: 'refused';
  }
  interface FastifyRequest {
    idempotency: { scope: string; key: string } | null;
  }
}

function requestHash(request: FastifyRequest): string {
  const hash = createHash('sha256').update(`${request.method}\n${request.url}\n`);
  // A file upload (a mailing list's CSV) is hashed as its bytes.
  if (Buffer.isBuffer(request.body)) return hash.update(request.body).digest('hex');
  const body = request.body === undefined || request.body === null ? '' : canonicalJson(request.body);
  return hash.update(body).digest('hex');
}

/**
 * Stripe's idempotency semantics for every POST: with an `Idempotency-Key` header, the first
 * result (success or refusal) is stored and replayed for the same key, marked
 * `Idempotent-Replayed: true`; the same key with other parameters is refused (422); while the
 * first request runs, a duplicate gets 409. Server errors (5xx) are not kept, so they may be
 * retried with the same key. Keys belong to the signed-in account (or to `public` routes).
 */
export function installIdempotency(app: FastifyInstance, db: Kysely<DatabaseSchema>): void {
  app.decorateRequest('idempotency', null);

  app.addHook('preHandler', async (request, reply) => {
    const key = request.headers[IDEMPOTENCY_HEADER];
    if (request.method !== 'POST' || key === undefined) return;
    if (typeof key !== 'string' || !KEY.test(key))
      throw new ApiError(
        'request.invalid',
        'An Idempotency-Key is 1 to 255 printable ASCII characters, e.g. a UUID.',
      );
    if (request.routeOptions.config.idempotency === 'refused')
      throw new ApiError(
        'request.invalid',
        'This request returns a secret shown once, so its answer is never stored: send it without an Idempotency-Key.',
      );
    const scope = request.principal?.accountId ?? 'public';
    const hash = requestHash(request);
    const now = new Date();
    await db
      .deleteFrom('idempotency_keys')
      .where('scope', '=', scope)
      .where('key', '=', key)
      .where('created_at', '<', new Date(now.getTime() - IDEMPOTENCY_KEY_LIFETIME_MS).toISOString())
      .execute();
    const inserted = await db
      .insertInto('idempotency_keys')
      .values({
        scope,
        key,
        request_hash: hash,
        status: 'in_progress',
        response_status: null,
        response_body: null,
        created_at: now.toISOString(),
      })
      .onConflict((conflict) => conflict.columns(['scope', 'key']).doNothing())
      .executeTakeFirst();
    if (inserted.numInsertedOrUpdatedRows === 1n) {
      request.idempotency = { scope, key };
      return;
    }
    const existing = await db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('scope', '=', scope)
      .where('key', '=', key)
      .executeTakeFirst();
    if (existing === undefined)
      throw new ApiError(
        'request.conflict',
        'This Idempotency-Key was just released; send the request again.',
      );
    if (existing.request_hash !== hash)
      throw new ApiError(
        'request.idempotency_key_reused',
        'This Idempotency-Key was used with other parameters; use a new key for a new request.',
      );
    if (existing.status === 'in_progress' || existing.response_status === null)
      throw new ApiError(
        'request.conflict',
        'A request with this Idempotency-Key is still in progress; wait for it, then retry to get its result.',
      );
    void reply.header(REPLAYED_HEADER, 'true');
    void reply.status(existing.response_status).type('application/json; charset=utf-8');
    return reply.send(existing.response_body ?? '');
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const held = request.idempotency;
    if (held === null) return payload;
    request.idempotency = null;
    const where = db
      .updateTable('idempotency_keys')
      .where('scope', '=', held.scope)
      .where('key', '=', held.key)
      .where('status', '=', 'in_progress');
    const type = reply.getHeader('content-type');
    const isFile = typeof type === 'string' && !type.startsWith('application/json');
    if (reply.statusCode >= 500 || reply.statusCode === 429 || isFile) {
      // Not a result (or a file — a label, a preview — which moves no value and is not kept): free
      // the key so the same request may be retried.
      await db
        .deleteFrom('idempotency_keys')
        .where('scope', '=', held.scope)
        .where('key', '=', held.key)
        .where('status', '=', 'in_progress')
        .execute();
      return payload;
    }
    await where
      .set({
        status: 'done',
        response_status: reply.statusCode,
        response_body:
          typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '',
      })
      .execute();
    return payload;
  });
}
