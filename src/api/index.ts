export { ApiError, type ApiErrorCode } from './api-error.ts';
export { createApiServer, type ApiServerDependencies } from './create-api-server.ts';
export { errorPresentations, type KnownErrorCode } from './error-statuses.ts';
export type { HealthDependencies } from './routes/health-routes.ts';
export {
  CSRF_HEADER,
  ROLES,
  SESSION_COOKIE,
  accessTableOf,
  type Access,
  type RouteAccess,
} from './authentication.ts';
export { RATE_LIMITS, TokenBuckets, type Limit } from './rate-limits.ts';
export { requestDigest } from './signed-request.ts';
