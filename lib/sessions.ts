import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { authError, badArgument, errors } from './errors'
import type { Config } from './options'
import { familyOf, type Revocation } from './revocation'
import { REGISTERED_CLAIMS, type AccessTokenResponse, type TokenPair } from './schemas'
import type { Issue, TokenOptions } from './signer'
import { logStoreFailure, syncReadOf, type Bounded } from './store-calls'
import type { SessionRecord, TokenStore } from './stores/types'
import { setClaim } from './claims'
import { uuidv7 } from './uuidv7'

export interface SessionOptions extends Omit<TokenOptions, 'family'> {
  /** the login request: its user agent and IP are recorded with the session */
  request?: FastifyRequest
}

/**
 * Token pairs, sessions and rotation. A family (`fam`) is every token minted from one login: every pair
 * rotated from its refresh token shares it, so one revocation ends them all. A session is a family the
 * store keeps a record of (`createSession`: when, from where), so that `listSessions` can show it.
 */
export function createSessions (config: Config, store: TokenStore, bounded: Bounded, revocation: Revocation, issue: Issue, log: FastifyBaseLogger) {
  const { identityClaim, rotation, now } = config
  /** family records still being written, so that `revokeFamily(id)` on this instance waits for them */
  const recording = new Map<string, Promise<void>>()
  // A store with a synchronous read holds its state in this process: its writes have taken effect when they return.
  const inProcess = syncReadOf(store) !== undefined

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
   * `createTokenPair` is synchronous, so its family (`fam → sub`, for `revokeFamily(id)`) and its mint time
   * (for a later cut-off, whatever this instance's clock) are recorded in the background; a failure is
   * logged, and `revokeFamily` of that id then throws rather than pass quietly.
   */
  function recordFamily (sub: string, family: string, at: number): void {
    if (inProcess) {
      // written before the call returns: nothing to wait for, and no timer
      try {
        Promise.resolve(store.recordFamily(sub, family, revocation.longestTtl, at)).catch(err => { logStoreFailure(err, log) })
      } catch (err) { logStoreFailure(err, log) }
      return
    }
    const written = bounded(() => store.recordFamily(sub, family, revocation.longestTtl, at), log)
      .catch(() => {})
      .finally(() => { if (recording.get(family) === written) recording.delete(family) })
    recording.set(family, written)
  }

  function createTokenPair (sub: string, options: TokenOptions = {}): TokenPair {
    const at = now()
    const made = pair(sub, options, at)
    recordFamily(sub, made.family, at)
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
    if (rotation === false) throw new errors.FST_AUTHX_ROTATION_OFF()
    if (payload === null || typeof payload !== 'object' || payload.type !== 'refresh') throw authError('FST_AUTHX_REFRESH_TOKEN_REQUIRED')
    const sub: string = payload[identityClaim]
    const at = await revocation.redeem(payload, log, true)
    const made = pair(sub, carried(payload), at)
    if (typeof payload.fam === 'string') await bounded(() => store.touchSession(sub, payload.fam, at, made.refreshExp), log)
    return made.pair
  }

  /**
   * Explicit refresh without rotation: the refresh token is redeemed (re-checked against every revocation
   * and marked used, atomically) and a new access token minted, dated at that step and in its family, so
   * a revocation that lands meanwhile covers it as it covers a rotated pair. With rotation on, a refresh
   * token is redeemed by `rotateRefreshToken` only (a second redeem would read as reuse).
   */
  async function refreshAccessToken (payload: Record<string, any>, log: FastifyBaseLogger): Promise<AccessTokenResponse> {
    if (rotation !== false) throw badArgument('with rotation on, refresh with rotateRefreshToken')
    if (payload === null || typeof payload !== 'object' || payload.type !== 'refresh') throw authError('FST_AUTHX_REFRESH_TOKEN_REQUIRED')
    const at = await revocation.redeem(payload, log, false)
    return { access_token: issue('access', payload[identityClaim], carried(payload), at).token }
  }

  /**
   * `revokeFamily(id)` or `revokeFamily(payload)`: a payload names its family by the rule reuse detection
   * uses (`familyOf`); an id must be one the store knows (`fam → sub`), or this throws.
   */
  async function revokeFamily (target: string | Record<string, any>, log: FastifyBaseLogger): Promise<void> {
    /** The subject the store recorded for a family (waiting for this instance's own record in flight). */
    const ownerOf = async (family: string): Promise<unknown> => {
      await recording.get(family)
      return await bounded(() => store.familySubject(family), log)
    }
    if (typeof target === 'string') {
      const sub = await ownerOf(target)
      if (typeof sub !== 'string') throw authError('FST_AUTHX_UNKNOWN_FAMILY')
      return await revocation.revokeFamily(sub, target, log)
    }
    if (target === null || typeof target !== 'object' || typeof target[identityClaim] !== 'string' ||
      (typeof target.fam !== 'string' && typeof target.jti !== 'string')) {
      throw badArgument('revokeFamily needs a family id, a verified payload, or { sub, fam }')
    }
    const sub: string = target[identityClaim]
    const family = familyOf(target)
    // `{ sub, fam }` names a family rather than carrying a verified token: it must be that subject's own,
    // or nothing would be revoked (a tombstone under another subject covers none of the family's tokens).
    if (typeof target.jti !== 'string' && await ownerOf(family) !== sub) throw authError('FST_AUTHX_UNKNOWN_FAMILY')
    await revocation.revokeFamily(sub, family, log)
  }

  return {
    createTokenPair,
    createSession,
    rotateRefreshToken,
    refreshAccessToken,
    revokeFamily,
    carried,
    listSessions: async (sub: string, log: FastifyBaseLogger) => await bounded(() => store.listSessions(sub), log)
  }
}
