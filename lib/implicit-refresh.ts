import type { FastifyReply, FastifyRequest } from 'fastify'
import { kAccessCookieTouched } from './cookies'
import type { Config, ImplicitRefreshConfig } from './options'
import type { Revocation } from './revocation'
import type { Issue, TokenOptions } from './signer'
import type { Verify } from './verifier'

type Request = FastifyRequest & { cookies?: Record<string, string | undefined> }
type Reply = FastifyReply & { [kAccessCookieTouched]?: boolean }

export interface ImplicitRefreshContext {
  config: Pick<Config, 'types' | 'identityClaim' | 'now'>
  implicitRefresh: ImplicitRefreshConfig
  verify: Verify
  revocation: Revocation
  carried: (payload: Record<string, any>) => TokenOptions
  issue: Issue
}

/**
 * An `onSend` hook: a response to a request whose access cookie is valid, unrevoked and about to
 * expire gets a new access cookie and CSRF cookie (same subject, data, scopes, audience and family;
 * not fresh). Never on an error response, never over a cookie the handler set or cleared, never from a
 * token found elsewhere, expired, invalid or revoked, never on excluded routes or methods.
 * Revocation is checked again right before the cookie is set, atomically with marking the token
 * redeemed (a request can be in flight across a logout), and the new token is dated at that step.
 */
export function createImplicitRefresh (ctx: ImplicitRefreshContext) {
  const { config, verify, revocation, carried, issue } = ctx
  const { deltaTime, routeInclude, routeExclude, methodInclude, methodExclude } = ctx.implicitRefresh
  const cookieName = config.types.access.cookie.name
  const subjectClaim = config.identityClaim
  const { now } = config

  function routeAllowed (request: FastifyRequest): boolean {
    if (methodExclude.has(request.method)) return false
    if (methodInclude.size > 0 && !methodInclude.has(request.method)) return false
    const pattern = request.routeOptions.url
    const path = request.url.split('?', 1)[0]
    const named = (list: Set<string>) => list.has(path) || (pattern !== undefined && list.has(pattern))
    if (named(routeExclude)) return false
    return routeInclude.size === 0 || named(routeInclude)
  }

  /** The verified access-cookie payload of this request, or undefined when it holds none to refresh from. */
  function cookiePayload (request: Request): Record<string, any> | undefined {
    const payload = request.tokenPayload as Record<string, any> | null
    if (payload !== null) {
      // A guard ran: reuse its verification, as long as it read the access cookie.
      return request.tokenLocation === 'cookies' && payload.type === 'access' ? payload : undefined
    }
    const token = request.cookies?.[cookieName]
    if (typeof token !== 'string' || token === '') return undefined
    try {
      const verified = verify(token)
      return verified.type === 'access' ? verified : undefined
    } catch {
      return undefined
    }
  }

  /** The redeem step (store and `isRevoked`), now: the time to date the new token, or undefined when refused. */
  async function redeemed (request: Request, payload: Record<string, any>): Promise<number | undefined> {
    try {
      return await revocation.redeem(payload, request.log, false, request)
    } catch {
      return undefined // revoked, or the store failed: no new cookie (fail closed); the response itself stands
    }
  }

  return async function implicitRefresh (request: Request, reply: Reply, body: unknown): Promise<unknown> {
    if (reply.statusCode >= 400 || reply[kAccessCookieTouched] === true || !routeAllowed(request)) return body
    const payload = cookiePayload(request)
    if (payload === undefined || typeof payload.exp !== 'number') return body
    if (payload.exp - now() / 1000 > deltaTime) return body
    const at = await redeemed(request, payload)
    if (at === undefined) return body
    let token: string
    try {
      token = issue('access', payload[subjectClaim], carried(payload), at).token
    } catch {
      return body // e.g. the family reached rotation.maxSessionAge: nothing to extend
    }
    reply.setAccessCookies(token)
    return body
  }
}
