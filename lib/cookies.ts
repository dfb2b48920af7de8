import type { FastifyReply } from 'fastify'
import { badArgument } from './errors'
import type { CookieConfig, TypeConfig } from './options'
import type { TokenType } from './schemas'

export interface CookieOptions {
  /** seconds (or `'15m'`-style); overrides `cookies.maxAge` for this call */
  maxAge?: number | string
}

/** Set on a reply whose handler set or unset the access cookie: implicit refresh leaves it alone. */
export const kAccessCookieTouched = Symbol('authx.accessCookieTouched')

type Reply = FastifyReply & { [kAccessCookieTouched]?: boolean }

/**
 * The reply decorators that write and clear token cookies. Each JWT cookie is paired with a
 * readable CSRF cookie holding the token's `csrf` claim (double submit), when CSRF is on.
 */
export interface CookieSlice {
  cookies: CookieConfig
  /** each type's token cookie and CSRF cookie */
  types: Record<TokenType, Pick<TypeConfig, 'cookie' | 'csrfCookie'>>
  /** `csrf.pairCookies`: write the readable CSRF cookie beside the token cookie */
  pairCsrf: boolean
}

export function createCookieHelpers ({ cookies, types, pairCsrf }: CookieSlice, csrfOf: (token: string) => string | undefined, parseDuration: (v: number | string, path: string) => number) {
  const base = { domain: cookies.domain, secure: cookies.secure, sameSite: cookies.sameSite }

  function set (reply: Reply, type: TokenType, token: string, options: CookieOptions = {}): FastifyReply {
    if (typeof token !== 'string' || token.length === 0) throw badArgument('a token is required')
    const { cookie, csrfCookie } = types[type]
    const maxAge = options.maxAge === undefined ? cookies.maxAge : parseDuration(options.maxAge, 'maxAge')
    const common = maxAge === undefined ? base : { ...base, maxAge }
    // read (and so checked) before any cookie is set: a bad argument sets nothing
    const csrfValue = csrfOf(token)
    reply.setCookie(cookie.name, token, { ...common, path: cookie.path, httpOnly: cookies.httpOnly })
    if (pairCsrf && csrfValue !== undefined) reply.setCookie(csrfCookie.name, csrfValue, { ...common, path: csrfCookie.path, httpOnly: false })
    if (type === 'access') reply[kAccessCookieTouched] = true
    reply.header('cache-control', 'no-store')
    return reply
  }

  function unset (reply: Reply, type: TokenType): FastifyReply {
    const { cookie, csrfCookie } = types[type]
    reply.clearCookie(cookie.name, { ...base, path: cookie.path, httpOnly: cookies.httpOnly })
    if (pairCsrf) reply.clearCookie(csrfCookie.name, { ...base, path: csrfCookie.path, httpOnly: false })
    if (type === 'access') reply[kAccessCookieTouched] = true
    reply.header('cache-control', 'no-store')
    return reply
  }

  return {
    setAccessCookies (this: FastifyReply, token: string, options?: CookieOptions) { return set(this, 'access', token, options) },
    setRefreshCookies (this: FastifyReply, token: string, options?: CookieOptions) { return set(this, 'refresh', token, options) },
    unsetAccessCookies (this: FastifyReply) { return unset(this, 'access') },
    unsetRefreshCookies (this: FastifyReply) { return unset(this, 'refresh') },
    unsetCookies (this: FastifyReply) { unset(this, 'access'); return unset(this, 'refresh') }
  }
}
