import { randomFillSync } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance } from 'fastify'
import { authError, errors, type AuthxError } from './errors'
import type { RemoteKeySet } from './jwks'
import type { KeySet } from './keys'
import type { Config, TokenLocation, TokenType } from './options'
import { cloneClaims, setClaim } from './claims'
import { VerifyCache } from './verify-cache'

/** Claims the plugin owns: `data` may never set them. */
export const REGISTERED_CLAIMS = new Set(['sub', 'type', 'jti', 'iat', 'nbf', 'exp', 'fresh', 'csrf', 'scopes', 'iss', 'aud', 'fam'])

export interface TokenOptions {
  /** access tokens only: made by a login (true) or by a refresh (false, the default) */
  fresh?: boolean
  /** extra top-level claims */
  data?: Record<string, unknown>
  scopes?: string[]
  /** overrides the configured lifetime: seconds, `'15m'`-style, or `false` (no `exp`) */
  expiresIn?: number | string | false
  audience?: string | string[]
  /** extra JWT header members (`alg` and `kid` are the plugin's) */
  headers?: Record<string, unknown>
  /** session family; set by `createTokenPair`, sessions and rotation */
  family?: string
}

/** A token the plugin verified, and where it came from. */
export interface Verified {
  payload: Record<string, any>
  type: TokenType
  location: TokenLocation
  /** issue time in ms, from the jti when it is one of ours (UUIDv7), else from `iat` */
  issuedAt: number
}

// Random bytes come from a pool: one syscall per 256 ids instead of one per id.
const pool = Buffer.allocUnsafe(4096)
let poolOffset = pool.length
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/**
 * A UUIDv7 (RFC 9562): random, with the creation time in its first 48 bits. The time lets
 * `revokeAllSessions` revoke exactly the tokens issued before it (iat has only 1 s resolution)
 * and `rotation.maxSessionAge` date a family without a store lookup.
 */
export function uuidv7 (now: number): string {
  if (poolOffset + 10 > pool.length) { randomFillSync(pool); poolOffset = 0 }
  const r = poolOffset
  poolOffset += 10
  const t = now.toString(16).padStart(12, '0')
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${HEX[pool[r] & 0x0f]}${HEX[pool[r + 1]].slice(1)}` +
    `-${HEX[(pool[r + 2] & 0x3f) | 0x80]}${HEX[pool[r + 3]]}-${HEX[pool[r + 4]]}${HEX[pool[r + 5]]}${HEX[pool[r + 6]]}${HEX[pool[r + 7]]}${HEX[pool[r + 8]]}${HEX[pool[r + 9]]}`
}

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** The creation time (ms) written in a UUIDv7, or undefined for any other string. */
export function uuidv7Time (id: string): number | undefined {
  return UUIDV7.test(id) ? parseInt(id.slice(0, 8) + id.slice(9, 13), 16) : undefined
}

export interface JwtApi {
  sign: (payload: Record<string, unknown>, options?: Record<string, unknown>) => string
  verify: (token: string) => { header: Record<string, unknown>, payload: unknown }
  decode: (token: string) => { header: Record<string, unknown>, payload: unknown }
}

/**
 * @fastify/jwt does the signing and verifying: one instance per key (namespaced, inside an
 * encapsulated context so the app's own @fastify/jwt, if any, is untouched), each with its verifier
 * built once. Verifier options: the allow-list, leeway in ms (fast-jwt's unit), issuer and audience.
 */
export async function registerJwt (fastify: FastifyInstance, keys: KeySet, config: Config): Promise<JwtApi[]> {
  const apis: JwtApi[] = []
  await fastify.register(async function authxKeys (child) {
    for (const [i, vk] of keys.verifyKeys.entries()) {
      const signs = i === 0 && keys.signingKey !== undefined
      const secret = keys.hmac
        ? vk.key
        : signs ? { private: keys.signingKey, public: vk.key } : { public: vk.key }
      await child.register(fastifyJwt, {
        namespace: `k${i}`,
        secret: secret as any,
        sign: { algorithm: keys.algorithm, ...(keys.kid === undefined ? {} : { kid: keys.kid }) },
        decode: { complete: true },
        verify: verifierOptions(config, vk.algorithms) as any
      })
      apis.push((child as any).jwt[`k${i}`])
    }
  })
  return apis
}

/** fast-jwt verifier options for these algorithms: the claim checks every key gets, configured or fetched. */
export function verifierOptions (config: Config, algorithms: string[]): Record<string, unknown> {
  const requiredClaims: string[] = []
  if (config.decodeIssuer !== undefined) requiredClaims.push('iss')
  if (config.decodeAudience !== undefined) requiredClaims.push('aud')
  return {
    algorithms,
    complete: true,
    // exp and nbf are checked by createVerify against config.now: fast-jwt's clock is fixed per verifier.
    ignoreExpiration: true,
    ignoreNotBefore: true,
    ...(config.decodeIssuer === undefined ? {} : { allowedIss: config.decodeIssuer }),
    ...(config.decodeAudience === undefined ? {} : { allowedAud: config.decodeAudience }),
    ...(requiredClaims.length === 0 ? {} : { requiredClaims })
  }
}

const invalid = (): AuthxError => authError('FST_AUTHX_INVALID_TOKEN')
// Errors that mean "not this key": the next configured key may still verify the token.
const WRONG_KEY = new Set(['FAST_JWT_INVALID_SIGNATURE', 'FAST_JWT_INVALID_ALGORITHM', 'FAST_JWT_INVALID_KEY'])

function mapError (err: unknown): AuthxError {
  return (err as { code?: string })?.code === 'FAST_JWT_EXPIRED' ? authError('FST_AUTHX_TOKEN_EXPIRED') : invalid()
}

const isNumber = (v: unknown) => typeof v === 'number' && Number.isFinite(v)
const isText = (v: unknown) => typeof v === 'string' && v.length > 0

/**
 * Builds the verify function once: signature, algorithm and registered claims (fast-jwt),
 * then the claims fast-jwt does not know (type, sub, jti, finite times, claim types).
 * Returns the verified claims as a plain copy; throws only `AuthxError`s.
 */
export function createVerify (config: Config, keys: KeySet, apis: JwtApi[], remote?: RemoteKeySet): (token: string) => VerifiedPayload {
  const { identityClaim, lifetimes, maxTokenLength, now } = config
  const leewayMs = config.leeway * 1000
  const cache = config.verifyCache > 0 ? new VerifyCache(config.verifyCache, config.leeway, now) : undefined
  const byKid = new Map<string, JwtApi>()
  keys.verifyKeys.forEach((k, i) => { if (k.kid !== undefined) byKid.set(k.kid, apis[i]) })
  const single = apis.length === 1 ? apis[0] : undefined
  const onlyKid = keys.verifyKeys[0]?.kid

  function verifySignature (token: string): { header: Record<string, unknown>, payload: unknown } {
    if (remote !== undefined) {
      // jwksUrl: the key is chosen by kid only; a token without one names no published key.
      const kid = remote.decode(token).header.kid
      if (typeof kid !== 'string') throw invalid()
      return remote.verifier(kid).verify(token)
    }
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

  return function verify (token) {
    if (typeof token !== 'string' || token.length === 0 || token.length > maxTokenLength) throw invalid()
    if (cache !== undefined) {
      const hit = cache.get(token)
      if (hit === 'expired') throw authError('FST_AUTHX_TOKEN_EXPIRED')
      if (hit !== undefined) return hit as VerifiedPayload
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
    if (exp !== undefined && t >= (exp as number) * 1000 + leewayMs) throw authError('FST_AUTHX_TOKEN_EXPIRED')
    const type = p.type
    if (type !== 'access' && type !== 'refresh') throw invalid()
    if (!isText(p[identityClaim]) || !isText(p.jti)) throw invalid()
    if (exp === undefined && lifetimes[type] !== false) throw invalid()
    if (p.iat !== undefined && !isNumber(p.iat)) throw invalid()
    if (p.scopes !== undefined && (!Array.isArray(p.scopes) || !p.scopes.every(s => typeof s === 'string'))) throw invalid()
    if ((p.fam !== undefined && !isText(p.fam)) || (p.csrf !== undefined && !isText(p.csrf))) throw invalid()
    // Each payload is a fresh JSON.parse result: the caller may keep it, unless the cache does.
    if (cache === undefined) return p as VerifiedPayload
    cache.set(token, p)
    return cloneClaims(p) as VerifiedPayload
  }
}

/** Verified claims: `type` is known to be one of the two. */
export type VerifiedPayload = Record<string, any> & { type: TokenType }

/**
 * The issue time in ms of a verified payload, as cut-offs compare it: the jti's UUIDv7 time when it falls
 * within the `iat` second (tokens this plugin issued), else the earliest the claims allow (the start of the
 * `iat` second, or 0), so that a token of uncertain age is covered by every cut-off that might cover it.
 */
export function issuedAt (payload: Record<string, any>): number {
  const fromJti = uuidv7Time(payload.jti)
  const iat = typeof payload.iat === 'number' ? payload.iat * 1000 : undefined
  if (fromJti === undefined) return iat ?? 0
  if (iat === undefined || (fromJti >= iat && fromJti < iat + 1000)) return fromJti
  return Math.min(fromJti, iat)
}

export interface IssuedToken { token: string, payload: Record<string, any> }

/** Builds the token factory once; `issue` computes every claim and signs with the current key. */
export function createIssue (config: Config, keys: KeySet, api: JwtApi, parseLifetime: (v: number | string, path: string) => number) {
  const { identityClaim, encodeNbf, issuer, audience, lifetimes } = config
  const clock = config.now
  const csrfOn = config.csrf.protect && config.tokenLocation.includes('cookies')
  const maxSessionAge = config.rotation === false ? 0 : config.rotation.maxSessionAge

  /** `at`: the issue time in ms, for tokens minted after a redeem (see Revocation.redeem); default now. */
  return function issue (type: TokenType, sub: string, options: TokenOptions = {}, at?: number): IssuedToken {
    if (keys.signingKey === undefined) throw new errors.FST_AUTHX_VERIFY_ONLY()
    if (typeof sub !== 'string' || sub.length === 0) throw new TypeError('fastify-authx: the subject must be a non-empty string')
    const now = at ?? clock()
    const iat = Math.floor(now / 1000)
    const life = options.expiresIn === undefined
      ? lifetimes[type]
      : options.expiresIn === false ? false : parseLifetime(options.expiresIn, 'expiresIn')
    const payload: Record<string, any> = { [identityClaim]: sub, type, jti: uuidv7(now), iat }
    if (encodeNbf) payload.nbf = iat
    if (life !== false) payload.exp = iat + life
    if (type === 'access') payload.fresh = options.fresh === true
    if (csrfOn) payload.csrf = uuidv7(now)
    if (options.scopes !== undefined) {
      if (!Array.isArray(options.scopes) || !options.scopes.every(s => typeof s === 'string')) throw new TypeError('fastify-authx: scopes must be an array of strings')
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
        if (REGISTERED_CLAIMS.has(k) || k === identityClaim) throw new TypeError(`fastify-authx: data cannot set the registered claim '${k}'`)
        setClaim(payload, k, options.data[k])
      }
    }
    let token: string
    if (options.headers === undefined) token = api.sign(payload)
    else {
      if ('alg' in options.headers || 'kid' in options.headers) throw new TypeError('fastify-authx: headers cannot set alg or kid')
      token = api.sign(payload, { header: { ...options.headers, alg: keys.algorithm, ...(keys.kid === undefined ? {} : { kid: keys.kid }) } })
    }
    return { token, payload }
  }
}
