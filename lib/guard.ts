import type { FastifyReply, FastifyRequest } from 'fastify'
import { authError, missingToken } from './errors'
import { pendingKeys } from './jwks'
import { createLookup } from './locations'
import { validateShape, type Config } from './options'
import type { Revocation } from './revocation'
import { GuardOptionsSchema, type Guard, type GuardOptions, type TokenLocation, type TokenType } from './schemas'
import { requireScopes } from './scopes'
import type { TokenPayload } from './types'
import { wrongType, type VerifiedPayload } from './verifier'

export type { Guard, GuardOptions }

const RESOLVED = Promise.resolve()

/** Whether a guard with these options checks double-submit CSRF on cookie tokens (the guard and OpenAPI ask alike). */
export function checksCsrf (options: GuardOptions, config: Pick<Config, 'csrf'>): boolean {
  return options.csrf !== false && config.csrf.protect
}

export interface GuardContext {
  config: Config
  verify: (token: string) => VerifiedPayload
  checkCsrf: (request: FastifyRequest, payload: Record<string, any>, type: TokenType) => void
  revocation: Revocation
  /** @fastify/cookie's parser, for guards that read cookies when its hook is off */
  parseCookie: (header: string) => unknown
}

/** What a guard leaves on the request once every check passed. */
function accept (request: FastifyRequest, payload: VerifiedPayload, location: TokenLocation): void {
  request.tokenPayload = payload as TokenPayload
  request.tokenLocation = location
}

/** What an optional guard leaves on a request that carries no token. */
function acceptNone (request: FastifyRequest): void {
  // typed as present for guarded handlers (as @fastify/jwt types `request.user`); null here, as documented
  request.tokenPayload = null as unknown as TokenPayload
  request.tokenLocation = null
}

const JSON_AT_ON_REQUEST = 'No token found: the JSON body is not parsed yet at onRequest; run this guard at preValidation or preHandler to read tokens from it'

/**
 * Builds a guard: everything is resolved here, once (lookup, names, scope matcher); the returned
 * hook is straight-line code. Checks, in order: signature and registered claims → type → freshness →
 * CSRF → scopes → revocation, so no store is consulted for a token that failed earlier.
 */
export function createGuardFactory (ctx: GuardContext) {
  const { config, verify, checkCsrf, revocation, parseCookie } = ctx

  return function guard (options: GuardOptions = {}): Guard {
    validateShape(options, GuardOptionsSchema)
    const want = options.type ?? 'access'
    const locations: TokenLocation[] = options.locations ?? config.tokenLocation
    const { finders, locations: where } = createLookup(config, locations, want, parseCookie)
    const count = finders.length
    const fresh = options.fresh === true
    const optional = options.optional === true
    const csrfOn = checksCsrf(options, config)
    const csrfMethods = config.csrf.methods
    const checkRevoked = options.checkRevoked !== false
    const exempt = config.exemptMethods
    const scopes = options.scopes !== undefined && options.scopes.length > 0 ? options.scopes : undefined
    const hasScopes = scopes === undefined ? undefined : requireScopes(scopes, options.allScopes !== false)
    const scopeChallenge = scopes === undefined ? '' : `Bearer error="insufficient_scope", scope="${scopes.join(' ')}"`

    /** The checks; returns a promise only when the store or `isRevoked` must be waited for. */
    function run (request: FastifyRequest): Promise<void> | undefined {
      let token: string | undefined | null
      let location: TokenLocation | undefined
      let unreadJson = false
      for (let i = 0; i < count; i++) {
        token = finders[i](request)
        if (token === null) { unreadJson = true; continue }
        if (token !== undefined) { location = where[i]; break }
      }
      if (location === undefined) {
        if (optional) { acceptNone(request); return undefined }
        throw missingToken(unreadJson ? JSON_AT_ON_REQUEST : undefined)
      }
      const payload = verify(token as string)
      const type = payload.type
      if (want !== 'any' && type !== want) throw wrongType(want)
      if (fresh && payload.fresh !== true) throw authError('FST_AUTHX_FRESH_TOKEN_REQUIRED')
      if (csrfOn && location === 'cookies' && csrfMethods.has(request.method)) checkCsrf(request, payload, type)
      if (hasScopes !== undefined && !hasScopes(payload.scopes)) throw authError('FST_AUTHX_INSUFFICIENT_SCOPE', scopeChallenge)
      if (checkRevoked) {
        const pending = revocation.check(request, payload, type)
        const found = location
        if (pending !== undefined) return pending.then(() => { accept(request, payload, found) })
      }
      accept(request, payload, location)
      return undefined
    }

    /** The checks again, after the JWKS fetch a token waited for: a token waits for one fetch at most. */
    function runAgain (request: FastifyRequest): Promise<void> | undefined {
      try {
        return run(request)
      } catch (err) {
        throw pendingKeys(err) === undefined ? err : authError('FST_AUTHX_JWKS_UNAVAILABLE')
      }
    }

    /**
     * A hook in both styles: Fastify passes `done` (so a guard that needs no store round trip costs no
     * promise); called as `await guard(request, reply)` it returns a promise.
     * An exempt method (CORS preflight) never reaches the handler without a token: the guard answers it
     * itself, 204 with no body, unless the guard is optional (then it passes with no payload).
     */
    return function authxGuard (request: FastifyRequest, reply: FastifyReply, done?: (err?: Error) => void): Promise<void> | undefined {
      if (exempt.has(request.method)) {
        if (optional) {
          acceptNone(request)
          if (done === undefined) return RESOLVED
          done()
        } else {
          // Replied: Fastify runs nothing further for a request whose reply is sent (no `done` needed).
          reply.code(204).send()
          // Called directly, settle only once the reply is out: until then (async onSend hooks) `reply.sent`
          // is still false, and a caller's hook that resolved would let Fastify go on to the handler.
          if (done === undefined) return new Promise<void>(resolve => { reply.then(resolve, () => { resolve() }) })
        }
        return undefined
      }
      let pending: Promise<void> | undefined
      try {
        pending = run(request)
      } catch (err) {
        // jwksUrl: the token's key is being fetched; check again once that fetch has settled.
        const keys = pendingKeys(err)
        if (keys !== undefined) pending = keys.then(() => runAgain(request))
        else {
          if (done === undefined) return Promise.reject(err)
          done(err as Error)
          return undefined
        }
      }
      if (done === undefined) return pending ?? RESOLVED
      if (pending === undefined) done()
      else pending.then(() => { done() }, done)
      return undefined
    }
  }
}
