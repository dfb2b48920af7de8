import type { FastifyBaseLogger } from 'fastify'

/**
 * Register-time warnings, with stable codes. Each goes to `fastify.log.warn` (which `Fastify()` turns
 * off by default) and to `process.emitWarning` (printed on stderr by Node unless the app listens to
 * `process.on('warning')` or runs with `--no-warnings`), once per code per process as Fastify's own are.
 */
export const warnings = {
  FST_AUTHX_SHORT_SECRET: 'an HMAC secret is shorter than 32 bytes; use at least 32 random bytes',
  FST_AUTHX_CSRF_OFF: 'cookies are a token location and CSRF protection is off; cookie-authenticated requests can be forged',
  FST_AUTHX_INSECURE_JWKS_URL: 'jwksUrl is plain http; whoever can alter its answer can mint tokens (use https)',
  // emitted by optionsFromEnv itself (every time, with the variables' names) unless given a `warn`
  FST_AUTHX_ENV_IGNORED: 'JWT_* variables that optionsFromEnv does not read were ignored'
} as const

export type AuthxWarningCode = keyof typeof warnings

const emitted = new Set<AuthxWarningCode>()

/** Emits a process warning once per code; the log line is the caller's (it carries the detail). */
export function emitAuthxWarning (code: AuthxWarningCode, message: string = `fastify-authx: ${warnings[code]}`): void {
  if (emitted.has(code)) return
  emitted.add(code)
  process.emitWarning(message, { type: 'FastifyWarning', code })
}

/** A register-time warning: the log line (with the detail) and the process warning (once per code). */
export function warnAtRegister (log: FastifyBaseLogger, code: AuthxWarningCode, message: string): void {
  log.warn(message)
  emitAuthxWarning(code, message)
}

/**
 * The store's client would queue commands without bound (RedisStore's `warnings()`): one warning per
 * problem and per registration, since each names a client of its own.
 */
export function warnUnboundedQueue (log: FastifyBaseLogger, problem: string): void {
  const message = `fastify-authx: the store's Redis client would queue commands without bound: ${problem} (see the README, "Redis at scale")`
  log.warn(message)
  process.emitWarning(message, { code: 'FST_AUTHX_UNBOUNDED_QUEUE' })
}
