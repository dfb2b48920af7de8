import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { authError, errors } from './errors'
import type { Config } from './options'
import { familyOf, storeAnswer, type Bounded, type Revocation } from './revocation'
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

type Issue = (type: 'access' | 'refresh', sub: string, options?: TokenOptions) => IssuedToken

/**
 * Token pairs, sessions and rotation. A session is a token family (`fam`): every pair rotated from
 * a login's refresh token shares its family, so one revocation ends them all.
 */
export function createSessions (config: Config, store: TokenStore, bounded: Bounded, revocation: Revocation, issue: Issue) {
  const { identityClaim, rotation } = config

  function pair (sub: string, options: TokenOptions): { pair: TokenPair, refreshExp: number } {
    const family = options.family ?? uuidv7()
    const access = issue('access', sub, { ...options, family })
    const refresh = issue('refresh', sub, { ...options, fresh: undefined, family })
    const exp = refresh.payload.exp
    return {
      pair: { access_token: access.token, refresh_token: refresh.token, token_type: 'bearer' },
      refreshExp: typeof exp === 'number' ? exp * 1000 : Date.now() + revocation.longestTtl * 1000
    }
  }

  /** The claims a rotated or refreshed token carries over: data, scopes, audience, family. */
  function carried (payload: Record<string, any>): TokenOptions {
    const data: Record<string, unknown> = {}
    for (const k of Object.keys(payload)) {
      if (!REGISTERED_CLAIMS.has(k) && k !== identityClaim) setClaim(data, k, payload[k])
    }
    return { data, scopes: payload.scopes, audience: payload.aud, family: payload.fam, fresh: false }
  }

  async function createSession (sub: string, options: SessionOptions, log: FastifyBaseLogger): Promise<TokenPair> {
    const { request, ...tokenOptions } = options
    const family = uuidv7()
    const made = pair(sub, { ...tokenOptions, family })
    const now = Date.now()
    const record: SessionRecord = { fam: family, createdAt: now, lastUsedAt: now, expiresAt: made.refreshExp }
    const agent = request?.headers['user-agent']
    if (typeof agent === 'string') record.userAgent = agent.slice(0, 512)
    if (request !== undefined) record.ip = request.ip
    await bounded(() => store.saveSession(sub, record), log)
    return made.pair
  }

  async function rotateRefreshToken (payload: Record<string, any>, log: FastifyBaseLogger): Promise<TokenPair> {
    if (rotation === false) throw new errors.FST_AUTHX_ROTATION_OFF()
    if (payload === null || typeof payload !== 'object' || payload.type !== 'refresh') throw authError('FST_AUTHX_REFRESH_TOKEN_REQUIRED')
    const sub: string = payload[identityClaim]
    const ref = { sub, jti: payload.jti as string, fam: payload.fam as string | undefined }
    const now = Date.now()
    const first = await bounded(() => store.consume(ref, now, revocation.ttlOf(payload)), log)
    if (typeof first !== 'number' || !Number.isFinite(first) || first < 0) throw storeAnswer(log)
    if (first !== 0 && revocation.isReuse(first)) {
      // Lost the race to another request (or instance), outside the grace window: this is reuse.
      await revocation.revokeFamily(sub, familyOf(payload), log)
      throw authError('FST_AUTHX_REFRESH_TOKEN_REUSED')
    }
    // A refresh token made outside a pair has no family: the pairs rotated from it are named after it,
    // so that reuse of it still ends them.
    const made = pair(sub, { ...carried(payload), family: familyOf(payload) })
    if (ref.fam !== undefined) await bounded(() => store.touchSession(sub, ref.fam as string, now, made.refreshExp), log)
    return made.pair
  }

  return {
    createTokenPair: (sub: string, options: TokenOptions = {}) => pair(sub, options).pair,
    createSession,
    rotateRefreshToken,
    carried,
    listSessions: async (sub: string, log: FastifyBaseLogger) => await bounded(() => store.listSessions(sub), log)
  }
}
