import { authError, type AuthxError } from './errors'
import type { RemoteKeySet } from './jwks'
import type { JwtApi, DecodedToken } from './jwt'
import type { KeySet } from './keys'
import type { Config } from './options'
import type { TokenType } from './schemas'
import type { TokenPayload } from './types'
import { cloneClaims } from './claims'
import { uuidv7Time } from './uuidv7'
import { VerifyCache } from './verify-cache'

/** Verified claims: `type` is known to be one of the two. */
export type VerifiedPayload = Record<string, any> & { type: TokenType }

/** Verifies a token; `expiredToo` accepts one whose `exp` has passed (everything else is still checked), for revoking it. */
export type Verify = (token: string, expiredToo?: boolean) => VerifiedPayload

const invalid = (): AuthxError => authError('FST_AUTHX_INVALID_TOKEN')
// Errors that mean "not this key": the next configured key may still verify the token.
const WRONG_KEY = new Set(['FAST_JWT_INVALID_SIGNATURE', 'FAST_JWT_INVALID_ALGORITHM', 'FAST_JWT_INVALID_KEY'])

function mapError (err: unknown): AuthxError {
  return (err as { code?: string })?.code === 'FAST_JWT_EXPIRED' ? authError('FST_AUTHX_TOKEN_EXPIRED') : invalid()
}

const isNumber = (v: unknown) => typeof v === 'number' && Number.isFinite(v)
const isText = (v: unknown) => typeof v === 'string' && v.length > 0

/**
 * Builds the verify function once: signature, algorithm and registered claims (fast-jwt through
 * @fastify/jwt), then what fast-jwt does not check (type, sub, jti, finite times, claim types, exp and nbf
 * against `config.now`). Returns the verified claims as a plain copy; throws only `AuthxError`s.
 */
export function createVerify (config: Config, keys: KeySet, apis: JwtApi[], remote?: RemoteKeySet): Verify {
  const { identityClaim, types, maxTokenLength, now } = config
  const leewayMs = config.leeway * 1000
  const cache = config.verifyCache > 0 ? new VerifyCache(config.verifyCache, config.leeway, now) : undefined
  const byKid = new Map<string, JwtApi>()
  keys.verifyKeys.forEach((k, i) => { if (k.kid !== undefined) byKid.set(k.kid, apis[i]) })
  const single = apis.length === 1 ? apis[0] : undefined
  const onlyKid = keys.verifyKeys[0]?.kid

  /** jwksUrl: the key is chosen by kid only; a token without one names no published key. */
  function remoteKey (remote: RemoteKeySet, token: string): JwtApi {
    const kid = remote.decode(token).header.kid
    if (typeof kid !== 'string') throw invalid()
    return remote.verifier(kid)
  }

  function verifySignature (token: string): DecodedToken {
    if (remote !== undefined) return remoteKey(remote, token).verify(token)
    if (single !== undefined) {
      const result = single.verify(token)
      const kid = result.header.kid
      if (kid !== undefined && kid !== onlyKid) throw invalid()
      return result
    }
    const kid = apis[0].decode(token).header.kid
    if (kid !== undefined) {
      const api = typeof kid === 'string' ? byKid.get(kid) : undefined
      if (api === undefined) throw invalid()
      return api.verify(token)
    }
    let last: unknown
    for (const api of apis) {
      try { return api.verify(token) } catch (err) {
        if (!WRONG_KEY.has((err as { code?: string })?.code ?? '')) throw err
        last = err
      }
    }
    throw last
  }

  return function verify (token, expiredToo = false) {
    if (typeof token !== 'string' || token.length === 0 || token.length > maxTokenLength) throw invalid()
    if (cache !== undefined) {
      const hit = cache.get(token)
      if (hit === 'expired') {
        if (!expiredToo) throw authError('FST_AUTHX_TOKEN_EXPIRED')
      } else if (hit !== undefined) {
        // jwksUrl: a cached token is only as good as its key, which must still be published and usable
        // (not dropped from the JWKS, not past jwks.staleFor): asked as an uncached token would ask it.
        if (remote !== undefined) {
          try { remoteKey(remote, token) } catch (err) { throw (err as AuthxError)?.code?.startsWith('FST_AUTHX_') === true ? err : mapError(err) }
        }
        return hit as VerifiedPayload
      }
    }
    let p: Record<string, unknown>
    try {
      p = verifySignature(token).payload as Record<string, unknown>
    } catch (err) {
      throw (err as AuthxError)?.code?.startsWith('FST_AUTHX_') === true ? err : mapError(err)
    }
    if (p === null || typeof p !== 'object' || Array.isArray(p)) throw invalid()
    // RFC 7519 §4.1.4-5, with leeway: valid from nbf, expired from exp on.
    const { exp, nbf } = p
    if ((exp !== undefined && !isNumber(exp)) || (nbf !== undefined && !isNumber(nbf))) throw invalid()
    const t = now()
    if (nbf !== undefined && t < (nbf as number) * 1000 - leewayMs) throw invalid()
    if (exp !== undefined && !expiredToo && t >= (exp as number) * 1000 + leewayMs) throw authError('FST_AUTHX_TOKEN_EXPIRED')
    const type = p.type
    if (type !== 'access' && type !== 'refresh') throw invalid()
    if (!isText(p[identityClaim]) || !isText(p.jti)) throw invalid()
    if (exp === undefined && types[type].lifetime !== false) throw invalid()
    if (p.iat !== undefined && !isNumber(p.iat)) throw invalid()
    if (p.scopes !== undefined && (!Array.isArray(p.scopes) || !p.scopes.every(s => typeof s === 'string'))) throw invalid()
    if ((p.fam !== undefined && !isText(p.fam)) || (p.csrf !== undefined && !isText(p.csrf))) throw invalid()
    // Each payload is a fresh JSON.parse result: the caller may keep it, unless the cache does.
    if (cache === undefined || expiredToo) return p as VerifiedPayload
    cache.set(token, p)
    return cloneClaims(p) as VerifiedPayload
  }
}

/** The type a guard or `verifyToken` asks for: one of the two, or either. */
export type WantedType = TokenType | 'any'

/** The refusal for a token of the other type: the one place that choice is made. */
export function wrongType (want: TokenType): AuthxError {
  return authError(want === 'refresh' ? 'FST_AUTHX_REFRESH_TOKEN_REQUIRED' : 'FST_AUTHX_ACCESS_TOKEN_REQUIRED')
}

/** `app.authx.verifyToken`: verify, then the type asked for (default either), as a guard would, without the store. */
export function createVerifyToken (verify: Verify) {
  return function verifyToken (token: string, options: { type?: WantedType } = {}): TokenPayload {
    const payload = verify(token)
    const want = options.type ?? 'any'
    if (want !== 'any' && payload.type !== want) throw wrongType(want)
    return payload as TokenPayload
  }
}

/**
 * The issue time in ms of a verified payload, as cut-offs compare it: the jti's UUIDv7 time when it falls
 * within the `iat` second (tokens this plugin issued), else the earliest the claims allow (the start of the
 * `iat` second, or 0), so that a token of uncertain age is covered by every cut-off that might cover it.
 */
export function issuedAt (payload: Record<string, any>): number {
  if (typeof payload.iat !== 'number') return 0 // no iat: the claims allow any age
  const iat = payload.iat * 1000
  const fromJti = uuidv7Time(payload.jti)
  if (fromJti === undefined) return iat
  return fromJti >= iat && fromJti < iat + 1000 ? fromJti : Math.min(fromJti, iat)
}
