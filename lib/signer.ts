import { authError, badArgument, errors } from './errors'
import type { JwtApi } from './jwt'
import type { KeySet } from './keys'
import type { Config } from './options'
import { REGISTERED_CLAIMS, type TokenType } from './schemas'
import type { CreateTokenOptions } from './types'
import { setClaim } from './claims'
import { uuidv7, uuidv7Time } from './uuidv7'

/** What the plugin itself passes when it mints: the public options, any `data`, and the family. */
export interface TokenOptions extends Omit<CreateTokenOptions, 'data'> {
  data?: Record<string, unknown>
  /** session family; set by `createTokenPair`, sessions, rotation and refresh */
  family?: string
}

export interface IssuedToken { token: string, payload: Record<string, any> }

/** Mints one token; `at`: the issue time in ms, for tokens minted after a redeem (see Revocation.redeem); default now. */
export type Issue = (type: TokenType, sub: string, options?: TokenOptions, at?: number) => IssuedToken

/** Builds the token factory once; `issue` computes every claim and signs with the current key. */
export function createIssue (config: Config, keys: KeySet, api: JwtApi | undefined, parseLifetime: (v: number | string, path: string) => number): Issue {
  const { identityClaim, encodeNbf, issuer, audience, types } = config
  const clock = config.now
  const access = types.access.lifetime
  const refresh = types.refresh.lifetime
  const longest = access === false || refresh === false ? false : Math.max(access, refresh)
  const csrfClaim = config.csrf.claim
  const maxSessionAge = config.rotation === false ? 0 : config.rotation.maxSessionAge

  return function issue (type, sub, options = {}, at) {
    if (keys.signingKey === undefined || api === undefined) throw new errors.FST_AUTHX_VERIFY_ONLY()
    if (typeof sub !== 'string' || sub.length === 0) throw badArgument('the subject must be a non-empty string')
    const now = at ?? clock()
    const iat = Math.floor(now / 1000)
    const life = options.expiresIn === undefined
      ? types[type].lifetime
      : options.expiresIn === false ? false : parseLifetime(options.expiresIn, 'expiresIn')
    // Revocation entries about a family or subject live as long as the longest configured lifetime:
    // a token outliving it would outlive its own revocation.
    if (life === false ? longest !== false : longest !== false && life > longest) {
      throw badArgument('expiresIn cannot exceed the longest configured lifetime (accessTokenExpires, refreshTokenExpires)')
    }
    const payload: Record<string, any> = { [identityClaim]: sub, type, jti: uuidv7(now), iat }
    if (encodeNbf) payload.nbf = iat
    if (life !== false) payload.exp = iat + life
    if (type === 'access') payload.fresh = options.fresh === true
    if (csrfClaim) payload.csrf = uuidv7(now)
    if (options.scopes !== undefined) {
      if (!Array.isArray(options.scopes) || !options.scopes.every(s => typeof s === 'string')) throw badArgument('scopes must be an array of strings')
      payload.scopes = options.scopes
    }
    if (issuer !== undefined) payload.iss = issuer
    const aud = options.audience ?? audience
    if (aud !== undefined) payload.aud = aud
    if (options.family !== undefined) {
      payload.fam = options.family
      const start = maxSessionAge > 0 ? uuidv7Time(options.family) : undefined
      if (start !== undefined) {
        // rotation.maxSessionAge: no token of the family outlives the family's deadline.
        const deadline = Math.floor(start / 1000) + maxSessionAge
        if (deadline <= iat) throw authError('FST_AUTHX_TOKEN_EXPIRED')
        payload.exp = Math.min(payload.exp ?? deadline, deadline)
      }
    }
    if (options.data !== undefined) {
      for (const k of Object.keys(options.data)) {
        if (REGISTERED_CLAIMS.has(k) || k === identityClaim) throw badArgument(`data cannot set the registered claim '${k}'`)
        setClaim(payload, k, options.data[k])
      }
    }
    let token: string
    if (options.headers === undefined) token = api.sign(payload)
    else {
      if ('alg' in options.headers || 'kid' in options.headers) throw badArgument('headers cannot set alg or kid')
      token = api.sign(payload, { header: { ...options.headers, alg: keys.algorithm, ...(keys.kid === undefined ? {} : { kid: keys.kid }) } })
    }
    return { token, payload }
  }
}
