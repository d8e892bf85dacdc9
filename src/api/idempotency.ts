import { createHash, randomUUID } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { hostname } from 'node:os';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely, Selectable } from 'kysely';
import { canonicalJson } from '../encoding/index.ts';
import {
  type CommittedPackage,
  type DatabaseSchema,
  type IdempotencyKeysTable,
  withCommitParticipant,
  withoutFlush,
} from '../store/index.ts';
import { ApiError } from './api-error.ts';
import { type IdempotentEffect, replayAnswer } from './idempotent-replays.ts';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'idempotent-replayed';
/** Keys are kept this long; after that the same key starts afresh. */
export const IDEMPOTENCY_KEY_LIFETIME_MS = 24 * 3_600_000;
/** How long a key's owner holds it without refreshing; a retry after that takes the key over. */
export const IDEMPOTENCY_LEASE_MS = 30_000;
const HEARTBEAT_MS = IDEMPOTENCY_LEASE_MS / 3;
const KEY = /^[\x21-\x7e]{1,255}$/;

/** This process, as the owner of the keys it runs: `host:pid:boot nonce`. */
export const IDEMPOTENCY_OWNER = `${hostname()}:${process.pid}:${randomUUID()}`;

/**
 * Published (node:diagnostics_channel) with `{ scope, key }` when a request has taken its key,
 * and when its answer is about to be stored (after any commit): observability, and the points at
 * which the crash tests kill a server.
 */
export const KEY_CLAIMED_CHANNEL = channel('indicia:idempotency:claimed');
export const KEY_ANSWERING_CHANNEL = channel('indicia:idempotency:answering');

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `refused` for POSTs whose answer holds a secret shown once (sign-in, API keys): never stored. */
    idempotency?: 'refused';
  }
  interface FastifyRequest {
    idempotency: { scope: string; key: string; heartbeat: NodeJS.Timeout } | null;
  }
}

function requestHash(request: FastifyRequest): string {
  const hash = createHash('sha256').update(`${request.method}\n${request.url}\n`);
  // A file upload (a mailing list's CSV) is hashed as its bytes.
  if (Buffer.isBuffer(request.body)) return hash.update(request.body).digest('hex');
  const body = request.body === undefined || request.body === null ? '' : canonicalJson(request.body);
  return hash.update(body).digest('hex');
}

/** Whether a process is running with this pid on this host. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the key's owner is gone for certain: it ran on this host and its process is not
 * running (or this process has its pid, as in a container, with another boot nonce). Owners on
 * other hosts are judged by their lease only.
 */
function isOwnerGone(owner: string | null): boolean {
  if (owner === null) return true;
  const parts = owner.split(':');
  const nonce = parts.pop();
  const pid = Number(parts.pop());
  if (parts.join(':') !== hostname() || !Number.isSafeInteger(pid)) return false;
  if (pid === process.pid) return owner !== IDEMPOTENCY_OWNER && nonce !== undefined;
  return !isRunning(pid);
}

type KeyRow = Selectable<IdempotencyKeysTable>;

const isLeaseLive = (row: KeyRow, now: Date): boolean =>
  row.lease_expires_at !== null && row.lease_expires_at > now.toISOString() && !isOwnerGone(row.owner);

/**
 * Runs the value-moving `work` of a request so that, when the request carries an
 * Idempotency-Key, the key's outcome (`committed`, with `effect` and the packages the command
 * moved) is written in the same database transaction as the effect itself. After a crash at any
 * point a retry with the key then either rebuilds this answer (idempotent-replays.ts) or, when
 * nothing committed, runs the request; never twice. One custody command per request.
 *
 * @example const funded = await idempotentEffect(db, request, { kind: 'funds', ... }, () => meters.fund(...));
 */
export function idempotentEffect<T>(
  db: Kysely<DatabaseSchema>,
  request: FastifyRequest,
  effect: IdempotentEffect,
  work: () => Promise<T>,
): Promise<T> {
  const held = request.idempotency;
  if (held === null) return work();
  return withCommitParticipant(async (trx, committed: readonly CommittedPackage[]) => {
    const marked = await trx
      .updateTable('idempotency_keys')
      .set({
        status: 'committed',
        effect: JSON.stringify({
          ...effect,
          committed: committed.map(({ meterId, packageSequence }) => ({ meterId, packageSequence })),
        }),
      })
      .where('scope', '=', held.scope)
      .where('key', '=', held.key)
      .where('owner', '=', IDEMPOTENCY_OWNER)
      .where('status', '=', 'in_progress')
      .executeTakeFirst();
    // Another process took the key over (this one stalled past its lease): the commit must not
    // happen twice, so this one rolls back (a 5xx, which frees the other commands' keys).
    if (marked.numUpdatedRows !== 1n)
      throw new Error(`Idempotency-Key ${held.key} is no longer held by this process.`);
  }, work);
}

/**
 * Stripe's idempotency semantics for every POST: with an `Idempotency-Key` header, the first
 * result (success or refusal) is stored and replayed for the same key, marked
 * `Idempotent-Replayed: true`; the same key with other parameters is refused (422); while the
 * first request runs, a duplicate gets 409. Server errors (5xx) are not kept, so they may be
 * retried with the same key. Keys belong to the signed-in account (or to `public` routes).
 * The running request holds its key on a lease it refreshes; a key whose process died is taken
 * over by the next retry, and a value-moving request's effect marks its key in its own commit.
 */
export function installIdempotency(app: FastifyInstance, db: Kysely<DatabaseSchema>): void {
  app.decorateRequest('idempotency', null);

  const keyRow = (scope: string, key: string) =>
    db.selectFrom('idempotency_keys').selectAll().where('scope', '=', scope).where('key', '=', key);

  const leaseUntil = (): string => new Date(Date.now() + IDEMPOTENCY_LEASE_MS).toISOString();

  const hold = (request: FastifyRequest, scope: string, key: string): void => {
    const heartbeat = setInterval(() => {
      db.updateTable('idempotency_keys')
        .set({ lease_expires_at: leaseUntil() })
        .where('scope', '=', scope)
        .where('key', '=', key)
        .where('owner', '=', IDEMPOTENCY_OWNER)
        .where('status', 'in', ['in_progress', 'committed'])
        .execute()
        .catch((error: unknown) => request.log.warn({ err: error }, 'idempotency lease not refreshed'));
    }, HEARTBEAT_MS);
    heartbeat.unref();
    request.idempotency = { scope, key, heartbeat };
    KEY_CLAIMED_CHANNEL.publish({ scope, key });
  };

  /** Takes over a key whose owner is gone, if no one else did first (compare-and-swap). */
  const takeOver = async (row: KeyRow): Promise<boolean> => {
    let update = db
      .updateTable('idempotency_keys')
      .set({ owner: IDEMPOTENCY_OWNER, lease_expires_at: leaseUntil() })
      .where('scope', '=', row.scope)
      .where('key', '=', row.key)
      .where('status', '=', 'in_progress');
    update = row.owner === null ? update.where('owner', 'is', null) : update.where('owner', '=', row.owner);
    update =
      row.lease_expires_at === null
        ? update.where('lease_expires_at', 'is', null)
        : update.where('lease_expires_at', '=', row.lease_expires_at);
    return (await update.executeTakeFirst()).numUpdatedRows === 1n;
  };

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
    // The claim is not flushed on its own: a crash that loses it loses the request's effect too
    // (the effect commits durably, flushing the log through the claim, and marks the key in it).
    const claim = async (): Promise<boolean> => {
      const inserted = await withoutFlush(db, (unflushed) =>
        unflushed
          .insertInto('idempotency_keys')
          .values({
            scope,
            key,
            request_hash: hash,
            status: 'in_progress',
            response_status: null,
            response_body: null,
            created_at: now.toISOString(),
            owner: IDEMPOTENCY_OWNER,
            lease_expires_at: leaseUntil(),
            effect: null,
          })
          .onConflict((conflict) => conflict.columns(['scope', 'key']).doNothing())
          .executeTakeFirst(),
      );
      return inserted.numInsertedOrUpdatedRows === 1n;
    };
    // A new key (nearly every request) is one statement; a key past its lifetime starts afresh.
    let isClaimed = await claim();
    if (!isClaimed) {
      const expired = await db
        .deleteFrom('idempotency_keys')
        .where('scope', '=', scope)
        .where('key', '=', key)
        .where('created_at', '<', new Date(now.getTime() - IDEMPOTENCY_KEY_LIFETIME_MS).toISOString())
        .executeTakeFirst();
      if (expired.numDeletedRows > 0n) isClaimed = await claim();
    }
    if (isClaimed) {
      hold(request, scope, key);
      return;
    }
    const existing = await keyRow(scope, key).executeTakeFirst();
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
    if (existing.status === 'done' && existing.response_status !== null) {
      void reply.header(REPLAYED_HEADER, 'true');
      void reply.status(existing.response_status).type('application/json; charset=utf-8');
      return reply.send(existing.response_body ?? '');
    }
    if (isLeaseLive(existing, now))
      throw new ApiError(
        'request.conflict',
        'A request with this Idempotency-Key is still in progress; wait for it, then retry to get its result.',
      );
    if (existing.status === 'committed' && existing.effect !== null) {
      // Its effect committed, and its process died before storing the answer: rebuilt from the
      // committed rows, the same answer, and nothing runs again.
      const answer = await replayAnswer(db, JSON.parse(existing.effect) as IdempotentEffect);
      void reply.header(REPLAYED_HEADER, 'true');
      return reply.status(answer.status).send(answer.body);
    }
    if (existing.status === 'in_progress' && (await takeOver(existing))) {
      request.log.info({ key, previousOwner: existing.owner }, 'idempotency key taken over');
      hold(request, scope, key);
      return;
    }
    throw new ApiError(
      'request.conflict',
      'A request with this Idempotency-Key changed hands just now; send it again to get its result.',
    );
  });

  const release = (request: FastifyRequest) => {
    const held = request.idempotency;
    if (held === null) return null;
    request.idempotency = null;
    clearInterval(held.heartbeat);
    return held;
  };

  app.addHook('onSend', async (request, reply, payload) => {
    const held = release(request);
    if (held === null) return payload;
    KEY_ANSWERING_CHANNEL.publish({ scope: held.scope, key: held.key });
    const type = reply.getHeader('content-type');
    const isFile = typeof type === 'string' && !type.startsWith('application/json');
    if (reply.statusCode >= 500 || reply.statusCode === 429 || isFile) {
      // Not a result (or a file — a label, a preview — which moves no value and is not kept): free
      // the key so the same request may be retried. A committed effect keeps its key: its retry
      // gets the answer rebuilt from it.
      await withoutFlush(db, (unflushed) =>
        unflushed
          .deleteFrom('idempotency_keys')
          .where('scope', '=', held.scope)
          .where('key', '=', held.key)
          .where('owner', '=', IDEMPOTENCY_OWNER)
          .where('status', '=', 'in_progress')
          .execute(),
      );
      return payload;
    }
    // Not flushed on its own either: lost in a crash, a committed effect's answer is rebuilt from
    // its rows (replayAnswer), and a refusal, which moved nothing, is given again when retried.
    await withoutFlush(db, (unflushed) =>
      unflushed
        .updateTable('idempotency_keys')
        .set({
          status: 'done',
          response_status: reply.statusCode,
          response_body:
            typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '',
        })
        .where('scope', '=', held.scope)
        .where('key', '=', held.key)
        .where('owner', '=', IDEMPOTENCY_OWNER)
        // A refusal after the effect committed is not its result: the rebuilt answer is.
        .where('status', 'in', reply.statusCode < 300 ? ['in_progress', 'committed'] : ['in_progress'])
        .execute(),
    );
    return payload;
  });

  // Whatever way the request ended, its lease stops being refreshed.
  app.addHook('onResponse', (request, _reply, done) => {
    release(request);
    done();
  });
}
