import type { FastifyReply } from 'fastify'
import { badArgument } from './errors'
import type { Config, TokenType } from './options'

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
export function createCookieHelpers (config: Config, csrfOf: (token: string) => string | undefined, parseDuration: (v: number | string, path: string) => number) {
  const { cookies, csrf } = config
  const base = { domain: cookies.domain, secure: cookies.secure, sameSite: cookies.sameSite }
  const names = {
    access: { jwt: cookies.accessName, jwtPath: cookies.accessPath, csrf: csrf.accessCookieName, csrfPath: csrf.accessCookiePath },
    refresh: { jwt: cookies.refreshName, jwtPath: cookies.refreshPath, csrf: csrf.refreshCookieName, csrfPath: csrf.refreshCookiePath }
  }
  const pairCsrf = csrf.protect && csrf.inCookies

  function set (reply: Reply, type: TokenType, token: string, options: CookieOptions = {}): FastifyReply {
    if (typeof token !== 'string' || token.length === 0) throw badArgument('a token is required')
    const n = names[type]
    const maxAge = options.maxAge === undefined ? cookies.maxAge : parseDuration(options.maxAge, 'maxAge')
    const common = maxAge === undefined ? base : { ...base, maxAge }
    reply.setCookie(n.jwt, token, { ...common, path: n.jwtPath, httpOnly: cookies.httpOnly })
    if (pairCsrf) {
      const value = csrfOf(token)
      if (value !== undefined) reply.setCookie(n.csrf, value, { ...common, path: n.csrfPath, httpOnly: false })
    }
    if (type === 'access') reply[kAccessCookieTouched] = true
    reply.header('cache-control', 'no-store')
    return reply
  }

  function unset (reply: Reply, type: TokenType): FastifyReply {
    const n = names[type]
    reply.clearCookie(n.jwt, { ...base, path: n.jwtPath, httpOnly: cookies.httpOnly })
    if (pairCsrf) reply.clearCookie(n.csrf, { ...base, path: n.csrfPath, httpOnly: false })
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
