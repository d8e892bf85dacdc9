import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './api-error.ts';

/** How many requests a client may make, refilled evenly over a window. */
export interface Limit {
  readonly requests: number;
  readonly perSeconds: number;
}

/** The sensitive routes' own per-address limits, beside the general one. */
export type RateLimitClass = 'sign-in' | 'sign-up' | 'email' | 'public-verify';

export const RATE_LIMITS: Readonly<Record<RateLimitClass, Limit>> = {
  // Password guessing from one address: 10 a minute.
  'sign-in': { requests: 10, perSeconds: 60 },
  'sign-up': { requests: 10, perSeconds: 3_600 },
  // Verification and reset e-mails: 5 an hour per address.
  email: { requests: 5, perSeconds: 3_600 },
  // The public check needs no account, so it is what a scraper or a flood would use: 30 a minute.
  'public-verify': { requests: 30, perSeconds: 60 },
};

declare module 'fastify' {
  interface FastifyContextConfig {
    rateLimit?: RateLimitClass;
  }
}

/** Token buckets by key, forgotten once full again. */
export class TokenBuckets {
  readonly #limit: Limit;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(limit: Limit) {
    this.#limit = limit;
  }

  /** Takes a token for `key`; returns 0 when allowed, else the seconds until one is free. */
  take(key: string, now = Date.now()): number {
    const { requests, perSeconds } = this.#limit;
    const rate = requests / (perSeconds * 1000);
    const bucket = this.#buckets.get(key) ?? { tokens: requests, at: now };
    const tokens = Math.min(requests, bucket.tokens + (now - bucket.at) * rate);
    if (tokens < 1) {
      this.#buckets.set(key, { tokens, at: now });
      return Math.ceil((1 - tokens) / rate / 1000);
    }
    this.#buckets.set(key, { tokens: tokens - 1, at: now });
    if (this.#buckets.size > 100_000) this.#prune(now);
    return 0;
  }

  #prune(now: number): void {
    const { requests, perSeconds } = this.#limit;
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.at) * requests) / (perSeconds * 1000) >= requests)
        this.#buckets.delete(key);
    }
  }
}

function refuse(seconds: number, what: string): never {
  throw new ApiError('request.rate_limited', `Too many ${what}; try again in ${seconds} s.`, {
    details: { retryAfterSeconds: seconds },
  });
}

/**
 * Rate limits, on this server's memory: every address, and every signed-in account, gets
 * `perMinute` API (/v1) requests a minute (0 turns that off); sign-in, sign-up, the e-mail sending
 * routes and the public check also have tight per-address limits (times `scale`). A refusal is 429 with Retry-After.
 */
export function installRateLimits(app: FastifyInstance, perMinute: number, scale = 1): void {
  const general = new TokenBuckets({ requests: Math.max(1, perMinute), perSeconds: 60 });
  const sensitive = new Map(
    Object.entries(RATE_LIMITS).map(
      ([name, limit]) => [name, new TokenBuckets({ ...limit, requests: limit.requests * scale })] as const,
    ),
  );
  const check = (request: FastifyRequest): void => {
    const address = request.ip;
    const kind = request.routeOptions.config.rateLimit;
    if (kind !== undefined) {
      const wait = sensitive.get(kind)?.take(`${kind}|${address}`) ?? 0;
      if (wait > 0)
        refuse(
          wait,
          kind === 'email'
            ? 'e-mails asked for from this address'
            : kind === 'public-verify'
              ? 'public checks from this address'
              : `${kind} attempts from this address`,
        );
    }
    // The API only: health checks, metrics and the docs serve load balancers and monitoring, which
    // probe from few addresses and must never be told to wait.
    if (perMinute === 0 || request.routeOptions.url?.startsWith('/v1/') !== true) return;
    const wait = general.take(
      request.principal === null ? `ip|${address}` : `account|${request.principal.accountId}`,
    );
    if (wait > 0) refuse(wait, 'requests');
  };
  // After authentication (an onRequest hook added earlier), so signed-in clients count per account.
  app.addHook('onRequest', async (request) => {
    check(request);
    return Promise.resolve();
  });
}
