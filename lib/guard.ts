import { Type, type Static } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { authError, missingToken } from './errors'
import { kRevocationSkipped } from './implicit-refresh'
import { createLookup } from './locations'
import { validateShape, type Config, type TokenLocation, type TokenType } from './options'
import type { Revocation } from './revocation'
import { requireScopes } from './scopes'
import type { TokenPayload } from './types'

const Location = Type.Union([Type.Literal('headers'), Type.Literal('cookies'), Type.Literal('query'), Type.Literal('json')])

export const GuardOptionsSchema = Type.Object({
  type: Type.Optional(Type.Union([Type.Literal('access'), Type.Literal('refresh'), Type.Literal('any')])),
  fresh: Type.Optional(Type.Boolean()),
  scopes: Type.Optional(Type.Array(Type.String({ minLength: 1, pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' }))),
  allScopes: Type.Optional(Type.Boolean()),
  locations: Type.Optional(Type.Array(Location, { minItems: 1, uniqueItems: true })),
  optional: Type.Optional(Type.Boolean()),
  csrf: Type.Optional(Type.Boolean()),
  checkRevoked: Type.Optional(Type.Boolean())
}, { additionalProperties: false })

/** Per-route guard options: see `app.authx.guard()`. */
export type GuardOptions = Static<typeof GuardOptionsSchema>

export type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

export interface GuardContext {
  config: Config
  verify: (token: string) => { payload: Record<string, any>, type: TokenType }
  checkCsrf: (request: FastifyRequest, payload: Record<string, any>, type: TokenType) => void
  revocation: Revocation
}

const JSON_AT_ON_REQUEST = 'No token found: the JSON body is not parsed yet at onRequest; run this guard at preValidation or preHandler to read tokens from it'

/**
 * Builds a guard: everything is resolved here, once (lookup, names, scope matcher); the returned
 * hook is straight-line code. Checks, in order: signature and registered claims → type → freshness →
 * CSRF → scopes → revocation, so no store is consulted for a token that failed earlier.
 */
export function createGuardFactory (ctx: GuardContext) {
  const { config, verify, checkCsrf, revocation } = ctx

  return function guard (options: GuardOptions = {}): Guard {
    validateShape(options, GuardOptionsSchema)
    const want = options.type ?? 'access'
    const locations: TokenLocation[] = options.locations ?? config.tokenLocation
    const { finders, locations: where } = createLookup(config, locations, want)
    const count = finders.length
    const fresh = options.fresh === true
    const optional = options.optional === true
    const csrfOn = options.csrf !== false && config.csrf.protect
    const csrfMethods = config.csrf.methods
    const checkRevoked = options.checkRevoked !== false
    const exempt = config.exemptMethods
    const scopes = options.scopes !== undefined && options.scopes.length > 0 ? options.scopes : undefined
    const hasScopes = scopes === undefined ? undefined : requireScopes(scopes, options.allScopes !== false)
    const scopeChallenge = scopes === undefined ? '' : `Bearer error="insufficient_scope", scope="${scopes.join(' ')}"`
    const wrongType = want === 'refresh' ? 'FST_AUTHX_REFRESH_TOKEN_REQUIRED' : 'FST_AUTHX_ACCESS_TOKEN_REQUIRED'

    return async function authxGuard (request) {
      if (exempt.has(request.method)) return
      let token: string | undefined | null
      let location: TokenLocation | undefined
      let unreadJson = false
      for (let i = 0; i < count; i++) {
        token = finders[i](request)
        if (token === null) { unreadJson = true; continue }
        if (token !== undefined) { location = where[i]; break }
      }
      if (location === undefined) {
        if (optional) { request.tokenPayload = null as unknown as TokenPayload; request.tokenLocation = null; return }
        throw missingToken(unreadJson ? JSON_AT_ON_REQUEST : undefined)
      }
      const { payload, type } = verify(token as string)
      if (want !== 'any' && type !== want) throw authError(wrongType)
      if (fresh && payload.fresh !== true) throw authError('FST_AUTHX_FRESH_TOKEN_REQUIRED')
      if (csrfOn && location === 'cookies' && csrfMethods.has(request.method)) checkCsrf(request, payload, type)
      if (hasScopes !== undefined && !hasScopes(payload.scopes)) throw authError('FST_AUTHX_INSUFFICIENT_SCOPE', scopeChallenge)
      if (checkRevoked) await revocation.check(request, payload, type)
      else (request as { [kRevocationSkipped]?: boolean })[kRevocationSkipped] = true
      request.tokenPayload = payload as TokenPayload
      request.tokenLocation = location
    }
  }
}
