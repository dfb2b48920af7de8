import type { FastifyReply, FastifyRequest } from 'fastify'
import { kAccessCookieTouched } from './cookies'
import type { Config, ImplicitRefreshConfig } from './options'
import type { Revocation } from './revocation'
import type { TokenOptions, VerifiedPayload } from './tokens'

/** Set by a guard that skipped the revocation check (`checkRevoked: false`): the common path adds nothing. */
export const kRevocationSkipped = Symbol('authx.revocationSkipped')

type Request = FastifyRequest & { [kRevocationSkipped]?: boolean, cookies?: Record<string, string | undefined> }
type Reply = FastifyReply & { [kAccessCookieTouched]?: boolean }

export interface ImplicitRefreshContext {
  config: Config & { implicitRefresh: ImplicitRefreshConfig }
  verify: (token: string) => VerifiedPayload
  revocation: Revocation
  carried: (payload: Record<string, any>) => TokenOptions
  issue: (type: 'access', sub: string, options: TokenOptions) => { token: string }
}

/**
 * An `onSend` hook: a response to a request whose access cookie is valid, unrevoked and about to
 * expire gets a new access cookie and CSRF cookie (same subject, data, scopes, audience and family;
 * not fresh). Never on an error response, never over a cookie the handler set or cleared, never from a
 * token found elsewhere, expired, invalid or revoked, never on excluded routes or methods.
 */
export function createImplicitRefresh (ctx: ImplicitRefreshContext) {
  const { config, verify, revocation, carried, issue } = ctx
  const { deltaTime, routeInclude, routeExclude, methodInclude, methodExclude } = config.implicitRefresh
  const cookieName = config.cookies.accessName
  const sub = config.identityClaim

  function routeAllowed (request: FastifyRequest): boolean {
    if (methodExclude.has(request.method)) return false
    if (methodInclude.size > 0 && !methodInclude.has(request.method)) return false
    const pattern = request.routeOptions.url
    const path = request.url.split('?', 1)[0]
    const named = (list: Set<string>) => list.has(path) || (pattern !== undefined && list.has(pattern))
    if (named(routeExclude)) return false
    return routeInclude.size === 0 || named(routeInclude)
  }

  /** The verified access-cookie payload of this request, or undefined when it must not be refreshed. */
  async function cookiePayload (request: Request): Promise<Record<string, any> | undefined> {
    let payload = request.tokenPayload as Record<string, any> | null
    if (payload !== null) {
      // A guard ran: reuse its verification, as long as it read the access cookie.
      if (request.tokenLocation !== 'cookies' || payload.type !== 'access') return undefined
      if (request[kRevocationSkipped] !== true) return payload
    } else {
      const token = request.cookies?.[cookieName]
      if (typeof token !== 'string' || token === '') return undefined
      try {
        payload = verify(token)
        if (payload.type !== 'access') return undefined
      } catch {
        return undefined
      }
    }
    try {
      await revocation.check(request, payload, 'access')
    } catch {
      return undefined
    }
    return payload
  }

  return async function implicitRefresh (request: Request, reply: Reply, body: unknown): Promise<unknown> {
    if (reply.statusCode >= 400 || reply[kAccessCookieTouched] === true || !routeAllowed(request)) return body
    const payload = await cookiePayload(request)
    if (payload === undefined || typeof payload.exp !== 'number') return body
    if (payload.exp - Date.now() / 1000 > deltaTime) return body
    let token: string
    try {
      token = issue('access', payload[sub], carried(payload)).token
    } catch {
      return body // e.g. the family reached rotation.maxSessionAge: nothing to extend
    }
    reply.setAccessCookies(token)
    return body
  }
}
