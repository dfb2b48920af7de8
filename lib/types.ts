import type { JsonWebKey } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { CookieOptions } from './cookies'
import type { AccessTokenResponse, Guard, GuardOptions, RegisteredClaims, TokenLocation, TokenPair, TokenType } from './schemas'
import type { SessionRecord, TokenStore } from './stores/types'

/**
 * Merge your own claim and subject types into this interface:
 *
 * ```ts
 * declare module 'fastify-authx' {
 *   interface AuthxTypes { data: { role: string }, subject: User }
 * }
 * ```
 */
export interface AuthxTypes {}

/** Your `data` claims (`AuthxTypes['data']`), or any claims when you declared none. */
export type AuthxData = AuthxTypes extends { data: infer D } ? D : Record<string, unknown>
/** What `getSubject` returns (`AuthxTypes['subject']`), or `unknown`. */
export type AuthxSubject = AuthxTypes extends { subject: infer S } ? S : unknown

/** A verified token's claims, as `request.tokenPayload` holds them. */
export type TokenPayload = RegisteredClaims & AuthxData

export interface CreateTokenOptions {
  /** access tokens: `true` for tokens made by a login; defaults to `false` */
  fresh?: boolean
  /** extra top-level claims; cannot set a registered claim */
  data?: AuthxData
  scopes?: string[]
  /** seconds, `'15m'`-style, or `false` for no `exp`; defaults to the configured lifetime */
  expiresIn?: number | string | false
  audience?: string | string[]
  /** extra JWT header members (not `alg` or `kid`) */
  headers?: Record<string, unknown>
}

export interface CreateSessionOptions extends CreateTokenOptions {
  /** the login request: its user agent and IP are recorded */
  request?: FastifyRequest
}

/** A live session, as `listSessions` returns it. */
export type SessionInfo = Omit<SessionRecord, 'expiresAt'> & { expiresAt: number }

export interface Authx {
  /** A guard hook for `onRequest`, `preValidation` or `preHandler`. */
  guard (options?: GuardOptions): Guard
  /** Verifies an encoded token (signature, claims, type) without the store; throws the plugin's errors. */
  verifyToken (token: string, options?: { type?: TokenType | 'any' }): TokenPayload
  /** The `csrf` claim of a token, after verifying it. */
  getCsrfToken (token: string): string | undefined
  /** Revokes one token by its verified `jti` (an encoded token is verified first). */
  revokeToken (payloadOrToken: TokenPayload | string): Promise<void>
  /**
   * Revokes every token of a family (one session), and what was minted from them. By id: any family the
   * plugin issued (an id the store never recorded throws `FST_AUTHX_UNKNOWN_FAMILY`). By a verified
   * payload: its family (`fam`, else the one named after its `jti`). Or `{ sub, fam }`. Resolves `true`.
   */
  revokeFamily (fam: string | Pick<TokenPayload, 'sub' | 'fam'>): Promise<boolean>
  /** Revokes every token of `sub` issued until now, on every instance ("log out everywhere"). */
  revokeAllSessions (sub: string): Promise<void>
  /**
   * Redeems a verified refresh token (marks it used and re-checks its revocation, atomically, once across
   * every instance) and returns a new pair in its family (needs `rotation`).
   */
  rotateRefreshToken (payload: TokenPayload): Promise<TokenPair>
  /**
   * Explicit refresh without rotation: redeems a verified refresh token (re-checks its revocation and
   * marks it used, atomically) and returns a new access token in its family, `fresh: false`. Use it in
   * `/refresh` rather than `createAccessToken`, so that a revocation landing while the request is in
   * flight covers what it mints. Not with `rotation` (use `rotateRefreshToken`).
   */
  refreshAccessToken (payload: TokenPayload): Promise<AccessTokenResponse>
  /** A token pair in a new family, recorded as a session. */
  createSession (sub: string, options?: CreateSessionOptions): Promise<TokenPair>
  /** The live sessions of `sub`, oldest first. */
  listSessions (sub: string): Promise<SessionInfo[]>
  /** The public keys as a JWKS document (`{ keys: [] }` for HMAC). */
  jwks (): { keys: JsonWebKey[] }
  /** The revocation / rotation / session store in use. */
  readonly store: TokenStore
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * For OpenAPI: the guard(s) protecting this route when the route's hooks cannot show them (a guard
     * added with `addHook` on a whole context, or wrapped by @fastify/auth). Has no effect at runtime.
     */
    authxGuard?: Guard | Guard[]
  }
  interface FastifyInstance {
    createAccessToken (sub: string, options?: CreateTokenOptions): string
    createRefreshToken (sub: string, options?: Omit<CreateTokenOptions, 'fresh'>): string
    createTokenPair (sub: string, options?: CreateTokenOptions): TokenPair
    /** Guard: a valid access token. */
    requireAccess: Guard
    /** Guard: a valid refresh token. */
    requireRefresh: Guard
    /** Guard: a valid, fresh access token. */
    requireFresh: Guard
    authx: Authx
  }
  interface FastifyRequest {
    /** The verified claims, set by a guard (null on routes without one, or an optional guard without a token). */
    tokenPayload: TokenPayload
    /** Where the guard found the token. */
    tokenLocation: TokenLocation | null
    /** The subject loaded by your `getSubject` option, once per request. */
    getSubject (): Promise<AuthxSubject>
  }
  interface FastifyReply {
    setAccessCookies (token: string, options?: CookieOptions): FastifyReply
    setRefreshCookies (token: string, options?: CookieOptions): FastifyReply
    unsetAccessCookies (): FastifyReply
    unsetRefreshCookies (): FastifyReply
    unsetCookies (): FastifyReply
  }
}

export type { AccessTokenResponse, Guard, GuardOptions, CookieOptions, RegisteredClaims, TokenLocation, TokenPair, TokenType }
