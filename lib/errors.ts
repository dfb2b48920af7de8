import createError, { type FastifyErrorConstructor } from '@fastify/error'

/**
 * Every failure the plugin can answer with, in one table (as Fastify core keeps its codes).
 * Messages are fixed strings: they never carry token bytes, claim values, keys or a store's text.
 * `challenge` is the RFC 6750 / RFC 9470 `WWW-Authenticate` value sent with the answer.
 */
const table = {
  FST_AUTHX_MISSING_TOKEN: [401, 'No token found in the request', 'Bearer'],
  FST_AUTHX_MALFORMED_HEADER: [400, 'The Authorization header must hold exactly one token', 'Bearer error="invalid_request"'],
  FST_AUTHX_INVALID_TOKEN: [401, 'The token is invalid', 'Bearer error="invalid_token"'],
  FST_AUTHX_TOKEN_EXPIRED: [401, 'The token has expired', 'Bearer error="invalid_token", error_description="The token has expired"'],
  FST_AUTHX_ACCESS_TOKEN_REQUIRED: [401, 'An access token is required', 'Bearer error="invalid_token", error_description="An access token is required"'],
  FST_AUTHX_REFRESH_TOKEN_REQUIRED: [401, 'A refresh token is required', 'Bearer error="invalid_token", error_description="A refresh token is required"'],
  FST_AUTHX_FRESH_TOKEN_REQUIRED: [401, 'A fresh token is required', 'Bearer error="insufficient_user_authentication", error_description="A fresh token is required"'],
  FST_AUTHX_CSRF_MISSING: [401, 'The CSRF token is missing', 'Bearer error="invalid_token", error_description="The CSRF token is missing"'],
  FST_AUTHX_CSRF_MISMATCH: [401, 'The CSRF token does not match', 'Bearer error="invalid_token", error_description="The CSRF token does not match"'],
  FST_AUTHX_REVOKED_TOKEN: [401, 'The token has been revoked', 'Bearer error="invalid_token", error_description="The token has been revoked"'],
  FST_AUTHX_REFRESH_TOKEN_REUSED: [401, 'The refresh token was already used; its session has been ended', 'Bearer error="invalid_token", error_description="The refresh token was already used"'],
  FST_AUTHX_INSUFFICIENT_SCOPE: [403, 'The token lacks the required scopes', 'Bearer error="insufficient_scope"'],
  FST_AUTHX_STORE_UNAVAILABLE: [503, 'Token checks are unavailable; try again later', undefined],
  FST_AUTHX_UNKNOWN_FAMILY: [404, 'No such token family: it was never recorded, or it has expired', undefined],
  FST_AUTHX_JWKS_UNAVAILABLE: [503, 'The keys to check this token are unavailable; try again later', undefined],
  FST_AUTHX_BAD_OPTIONS: [500, 'fastify-authx: bad option %s', undefined],
  FST_AUTHX_SUBJECT_NOT_FOUND: [401, 'The subject of the token was not found', 'Bearer error="invalid_token", error_description="The subject was not found"'],
  FST_AUTHX_SUBJECT_LOAD_FAILED: [500, 'The subject of the token could not be loaded', undefined],
  // Programming errors (thrown to the app's code, never caused by a client): a stack helps there.
  FST_AUTHX_BAD_ARGUMENT: [500, 'fastify-authx: %s', undefined, TypeError],
  FST_AUTHX_VERIFY_ONLY: [500, 'fastify-authx: this instance only verifies tokens (no privateKey or secret to sign with)', undefined],
  FST_AUTHX_ROTATION_OFF: [500, 'fastify-authx: rotateRefreshToken needs the rotation option', undefined],
  FST_AUTHX_GET_SUBJECT_MISSING: [500, 'fastify-authx: request.getSubject() needs the getSubject option', undefined],
  FST_AUTHX_IOREDIS_MISSING: [500, 'fastify-authx: RedisStore({ url }) needs the ioredis package: npm install ioredis', undefined]
} as const

export type AuthxErrorCode = keyof typeof table

/** An error the plugin throws: `switch (err.code)` narrows on the code. */
export interface AuthxError<C extends AuthxErrorCode = AuthxErrorCode> extends Error {
  code: C
  statusCode: number
  headers?: Record<string, string>
}

type Constructors = { [C in AuthxErrorCode]: FastifyErrorConstructor<{ code: C, statusCode: number }> }

/** The error constructors, keyed by code (like `fastify.errorCodes`). */
export const errors = {} as Constructors
const PROGRAMMING = new Set<string>(['FST_AUTHX_BAD_OPTIONS', 'FST_AUTHX_BAD_ARGUMENT', 'FST_AUTHX_VERIFY_ONLY', 'FST_AUTHX_ROTATION_OFF', 'FST_AUTHX_GET_SUBJECT_MISSING', 'FST_AUTHX_IOREDIS_MISSING'])
for (const code of Object.keys(table) as AuthxErrorCode[]) {
  const [status, message, , base] = table[code] as readonly [number, string, string | undefined, ErrorConstructor?]
  // Stacks of client errors are noise (and never sent); only programming errors keep one.
  ;(errors as Record<string, unknown>)[code] = createError(code, message, status, base ?? Error, PROGRAMMING.has(code))
}

/** True for every error the plugin throws or answers with (each carries a code of the table above). */
export function isAuthxError (err: unknown): err is AuthxError {
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && Object.hasOwn(table, code) && err instanceof errors[code as AuthxErrorCode]
}

/** A misuse of the API by the app's code (a bad subject, a claim `data` cannot set, …): a TypeError with a code. */
export function badArgument (what: string): AuthxError {
  return new errors.FST_AUTHX_BAD_ARGUMENT(what)
}

/** A client-facing failure, with its challenge header attached for Fastify's error handler. */
export function authError (code: Exclude<AuthxErrorCode, 'FST_AUTHX_BAD_OPTIONS' | 'FST_AUTHX_BAD_ARGUMENT'>, challenge?: string): AuthxError {
  const err: AuthxError = new errors[code]()
  const header = challenge ?? table[code][2]
  if (header !== undefined) err.headers = { 'www-authenticate': header }
  return err
}

/** Register-time failure naming the option path and what was expected. */
export function badOptions (path: string, expected: string): AuthxError {
  return new errors.FST_AUTHX_BAD_OPTIONS(`${path}: ${expected}`)
}

/** A missing-token failure whose message says why (a JSON-body lookup at `onRequest`). */
export function missingToken (message?: string): AuthxError {
  const err = authError('FST_AUTHX_MISSING_TOKEN')
  if (message !== undefined) err.message = message
  return err
}
