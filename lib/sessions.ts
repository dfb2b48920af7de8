import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { authError } from './errors'
import type { Config } from './options'
import { familyOf, isLocalStore, logStoreFailure, type Bounded, type Revocation } from './revocation'
import type { SessionRecord, TokenStore } from './stores/types'
import { setClaim } from './claims'
import { REGISTERED_CLAIMS, uuidv7, type IssuedToken, type TokenOptions } from './tokens'

export interface TokenPair {
  access_token: string
  refresh_token: string
  token_type: 'bearer'
}

export interface SessionOptions extends Omit<TokenOptions, 'family'> {
  /** the login request: its user agent and IP are recorded with the session */
  request?: FastifyRequest
}

type Issue = (type: 'access' | 'refresh', sub: string, options?: TokenOptions, at?: number) => IssuedToken

/**
 * Token pairs, sessions and rotation. A session is a token family (`fam`): every pair rotated from
 * a login's refresh token shares its family, so one revocation ends them all.
 */
export function createSessions (config: Config, store: TokenStore, bounded: Bounded, revocation: Revocation, issue: Issue, log: FastifyBaseLogger) {
  const { identityClaim, rotation, now } = config
  /** family records still being written, so that `revokeFamily(id)` on this instance waits for them */
  const recording = new Map<string, Promise<void>>()
  const local = isLocalStore(store)

  /** A pair in `family` (a new one when not given), dated `at` (default now). */
  function pair (sub: string, options: TokenOptions, at = now()): { pair: TokenPair, family: string, refreshExp: number } {
    const family = options.family ?? uuidv7(at)
    const access = issue('access', sub, { ...options, family }, at)
    const refresh = issue('refresh', sub, { ...options, fresh: undefined, family }, at)
    const exp = refresh.payload.exp
    return {
      pair: { access_token: access.token, refresh_token: refresh.token, token_type: 'bearer' },
      family,
      refreshExp: typeof exp === 'number' ? exp * 1000 : at + revocation.longestTtl * 1000
    }
  }

  /**
   * `createTokenPair` is synchronous, so its family is recorded (`fam → sub`, for `revokeFamily(id)`) in
   * the background; a failure is logged, and `revokeFamily` of that id then throws rather than pass quietly.
   */
  function recordFamily (sub: string, family: string): void {
    if (local) {
      // written before the call returns: nothing to wait for, and no timer
      store.recordFamily(sub, family, revocation.longestTtl).catch(err => { logStoreFailure(err, log) })
      return
    }
    const written = bounded(() => store.recordFamily(sub, family, revocation.longestTtl), log)
      .catch(() => {})
      .finally(() => { if (recording.get(family) === written) recording.delete(family) })
    recording.set(family, written)
  }

  function createTokenPair (sub: string, options: TokenOptions = {}): TokenPair {
    const made = pair(sub, options)
    recordFamily(sub, made.family)
    return made.pair
  }

  /** The claims a rotated or refreshed token carries over: data, scopes, audience, and the family rule of `familyOf`. */
  function carried (payload: Record<string, any>): TokenOptions {
    const data: Record<string, unknown> = {}
    for (const k of Object.keys(payload)) {
      if (!REGISTERED_CLAIMS.has(k) && k !== identityClaim) setClaim(data, k, payload[k])
    }
    return { data, scopes: payload.scopes, audience: payload.aud, family: familyOf(payload), fresh: false }
  }

  async function createSession (sub: string, options: SessionOptions, log: FastifyBaseLogger): Promise<TokenPair> {
    const { request, ...tokenOptions } = options
    const at = now()
    const made = pair(sub, { ...tokenOptions, family: uuidv7(at) }, at)
    const record: SessionRecord = { fam: made.family, createdAt: at, lastUsedAt: at, expiresAt: made.refreshExp }
    const agent = request?.headers['user-agent']
    if (typeof agent === 'string') record.userAgent = agent.slice(0, 512)
    if (request !== undefined) record.ip = request.ip
    await bounded(() => store.saveSession(sub, record), log)
    return made.pair
  }

  /**
   * Redeems the refresh token (marked used and re-checked against every revocation in one atomic store
   * step), then mints the new pair dated at that step: a revocation that lands afterwards covers it.
   */
  async function rotateRefreshToken (payload: Record<string, any>, log: FastifyBaseLogger): Promise<TokenPair> {
    if (rotation === false) throw new Error('fastify-authx: rotateRefreshToken needs the rotation option')
    if (payload === null || typeof payload !== 'object' || payload.type !== 'refresh') throw authError('FST_AUTHX_REFRESH_TOKEN_REQUIRED')
    const sub: string = payload[identityClaim]
    const at = await revocation.redeem(payload, log, true)
    const made = pair(sub, carried(payload), at)
    if (typeof payload.fam === 'string') await bounded(() => store.touchSession(sub, payload.fam, at, made.refreshExp), log)
    return made.pair
  }

  /**
   * `revokeFamily(id)` or `revokeFamily(payload)`: a payload names its family by the rule reuse detection
   * uses (`familyOf`); an id must be one the store knows (`fam → sub`), or this throws.
   */
  async function revokeFamily (target: string | Record<string, any>, log: FastifyBaseLogger): Promise<void> {
    let sub: unknown
    let family: string
    if (typeof target === 'string') {
      family = target
      await recording.get(family)
      sub = await bounded(() => store.familySubject(family), log)
      if (typeof sub !== 'string') throw authError('FST_AUTHX_UNKNOWN_FAMILY')
    } else {
      if (target === null || typeof target !== 'object' || typeof target[identityClaim] !== 'string' ||
        (typeof target.fam !== 'string' && typeof target.jti !== 'string')) {
        throw new TypeError('fastify-authx: revokeFamily needs a family id, a verified payload, or { sub, fam }')
      }
      family = familyOf(target)
      sub = target[identityClaim]
    }
    await revocation.revokeFamily(sub as string, family, log)
  }

  return {
    createTokenPair,
    createSession,
    rotateRefreshToken,
    revokeFamily,
    carried,
    listSessions: async (sub: string, log: FastifyBaseLogger) => await bounded(() => store.listSessions(sub), log)
  }
}
