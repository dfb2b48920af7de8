import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { FastifyRequest } from 'fastify'
import { badOptions } from './errors'
import { REGISTERED_CLAIMS, TokenLocationSchema, type TokenLocation, type TokenType } from './schemas'
import type { TokenStore } from './stores/types'
import type { AuthxSubject, TokenPayload } from './types'

export type { TokenLocation, TokenType }
export type Lifetime = number | string | false

const Lifetime = Type.Union([Type.Number(), Type.String(), Type.Literal(false)])
const Name = Type.String({ minLength: 1 })
const Names = Type.Array(Type.String({ minLength: 1 }))
const SameSite = Type.Union([Type.Literal('strict'), Type.Literal('lax'), Type.Literal('none'), Type.Literal(true), Type.Literal(false)])
/** Keys, secrets, stores and callbacks are checked by hand below: JSON Schema cannot describe them. */
const Anything = Type.Unknown()
export const ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const
const Algorithm = Type.Union(ALGORITHMS.map(a => Type.Literal(a)))

const closed = { additionalProperties: false } as const

/** The options schema: validated once, at `register` time. */
export const AuthxOptionsSchema = Type.Object({
  secret: Type.Optional(Anything),
  privateKey: Type.Optional(Anything),
  publicKey: Type.Optional(Anything),
  previousSecret: Type.Optional(Anything),
  previousPublicKeys: Type.Optional(Type.Array(Anything)),
  algorithm: Type.Optional(Algorithm),
  decodeAlgorithms: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
  accessTokenExpires: Type.Optional(Lifetime),
  refreshTokenExpires: Type.Optional(Lifetime),
  issuer: Type.Optional(Name),
  audience: Type.Optional(Type.Union([Name, Type.Array(Name, { minItems: 1 })])),
  decodeIssuer: Type.Optional(Type.Union([Name, Type.Array(Name, { minItems: 1 })])),
  decodeAudience: Type.Optional(Type.Union([Name, Type.Array(Name, { minItems: 1 })])),
  leeway: Type.Optional(Type.Number({ minimum: 0, maximum: 86400 })),
  encodeNbf: Type.Optional(Type.Boolean()),
  identityClaim: Type.Optional(Name),
  tokenLocation: Type.Optional(Type.Union([TokenLocationSchema, Type.Array(TokenLocationSchema, { minItems: 1, uniqueItems: true })])),
  header: Type.Optional(Type.Object({ name: Type.Optional(Name), type: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]*$' })) }, closed)),
  query: Type.Optional(Type.Object({ name: Type.Optional(Name) }, closed)),
  json: Type.Optional(Type.Object({ accessKey: Type.Optional(Name), refreshKey: Type.Optional(Name) }, closed)),
  cookies: Type.Optional(Type.Object({
    accessName: Type.Optional(Name),
    refreshName: Type.Optional(Name),
    accessPath: Type.Optional(Name),
    refreshPath: Type.Optional(Name),
    domain: Type.Optional(Name),
    secure: Type.Optional(Type.Boolean()),
    sameSite: Type.Optional(SameSite),
    httpOnly: Type.Optional(Type.Boolean()),
    maxAge: Type.Optional(Lifetime)
  }, closed)),
  csrf: Type.Optional(Type.Object({
    protect: Type.Optional(Type.Boolean()),
    methods: Type.Optional(Names),
    inCookies: Type.Optional(Type.Boolean()),
    accessCookieName: Type.Optional(Name),
    refreshCookieName: Type.Optional(Name),
    accessCookiePath: Type.Optional(Name),
    refreshCookiePath: Type.Optional(Name),
    accessHeader: Type.Optional(Name),
    refreshHeader: Type.Optional(Name),
    checkForm: Type.Optional(Type.Boolean()),
    accessField: Type.Optional(Name),
    refreshField: Type.Optional(Name)
  }, closed)),
  implicitRefresh: Type.Optional(Type.Union([Type.Boolean(), Type.Object({
    deltaTime: Type.Optional(Type.Union([Type.Number(), Type.String()])),
    routeInclude: Type.Optional(Names),
    routeExclude: Type.Optional(Names),
    methodInclude: Type.Optional(Names),
    methodExclude: Type.Optional(Names)
  }, closed)])),
  rotation: Type.Optional(Type.Union([Type.Boolean(), Type.Object({
    reuseGraceSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })),
    maxSessionAge: Type.Optional(Type.Union([Type.Number(), Type.String()]))
  }, closed)])),
  store: Type.Optional(Anything),
  storeTimeout: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 60000 })),
  isRevoked: Type.Optional(Anything),
  getSubject: Type.Optional(Anything),
  now: Type.Optional(Anything),
  verifyCache: Type.Optional(Type.Union([Type.Boolean(), Type.Integer({ minimum: 1 })])),
  exemptMethods: Type.Optional(Names),
  maxTokenLength: Type.Optional(Type.Integer({ minimum: 64 })),
  keyId: Type.Optional(Name),
  jwksRoute: Type.Optional(Type.String({ pattern: '^/' })),
  jwksUrl: Type.Optional(Type.String({ minLength: 1 })),
  jwks: Type.Optional(Type.Object({
    timeout: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 60000 })),
    cooldown: Type.Optional(Type.Union([Type.Number(), Type.String()])),
    minAge: Type.Optional(Type.Union([Type.Number(), Type.String()])),
    maxAge: Type.Optional(Type.Union([Type.Number(), Type.String()])),
    staleFor: Type.Optional(Type.Union([Type.Number(), Type.String()]))
  }, closed))
}, closed)

type KeyInput = string | Buffer | import('node:crypto').KeyObject
type Plain = Static<typeof AuthxOptionsSchema>

/** The options a user passes to `register`. */
export interface AuthxOptions extends Omit<Plain,
  'secret' | 'privateKey' | 'publicKey' | 'previousSecret' | 'previousPublicKeys' | 'store' | 'isRevoked' | 'getSubject' | 'algorithm' | 'now'> {
  secret?: string | Buffer
  privateKey?: KeyInput
  publicKey?: KeyInput
  previousSecret?: string | Buffer | PreviousSecret | Array<string | Buffer | PreviousSecret>
  previousPublicKeys?: KeyInput[]
  algorithm?: AlgorithmName
  store?: TokenStore
  isRevoked?: (payload: any, request: FastifyRequest) => boolean | Promise<boolean>
  /** Loads `request.getSubject()`'s answer; resolving `null` or `undefined` answers 401 `FST_AUTHX_SUBJECT_NOT_FOUND`. */
  getSubject?: (sub: string, payload: TokenPayload, request: FastifyRequest) => AuthxSubject | null | undefined | Promise<AuthxSubject | null | undefined>
  /** The one clock every time decision reads: milliseconds since the epoch (default `Date.now`). */
  now?: () => number
}

/** A previous HMAC secret, with the `kid` its tokens carry (see "Key rotation" in the README). */
export interface PreviousSecret { secret: string | Buffer, keyId?: string }
/** The signing algorithms the plugin knows. */
export type AlgorithmName = Static<typeof Algorithm>

/** The cookie attributes both token types share. */
export interface CookieConfig {
  domain?: string
  secure: boolean
  sameSite: 'strict' | 'lax' | 'none' | boolean
  httpOnly: boolean
  /** seconds; undefined = session cookies */
  maxAge?: number
}

/** CSRF, with its three derived switches computed once here. */
export interface CsrfConfig {
  /** guards check double-submit CSRF on cookie tokens (the `csrf.protect` option) */
  protect: boolean
  /** new tokens carry a `csrf` claim: `protect`, and cookies are a configured token location */
  claim: boolean
  /** the reply helpers pair each token cookie with a readable CSRF cookie: `protect` and `csrf.inCookies` */
  pairCookies: boolean
  methods: Set<string>
  checkForm: boolean
}

/** Everything that differs between access and refresh tokens: one record per type, computed once. */
export interface TypeConfig {
  /** seconds; false = no `exp` */
  lifetime: number | false
  /** the HttpOnly cookie that carries the token */
  cookie: { name: string, path: string }
  /** the readable cookie that carries its CSRF value */
  csrfCookie: { name: string, path: string }
  /** lower-cased: Node gives header names in lower case */
  csrfHeader: string
  csrfField: string
  /** the key of a JSON body that carries the token */
  jsonKey: string
}

export interface ImplicitRefreshConfig {
  deltaTime: number
  routeInclude: Set<string>
  routeExclude: Set<string>
  methodInclude: Set<string>
  methodExclude: Set<string>
}

/** `jwksUrl`: where a verify-only instance takes its keys from, and how it caches them. */
export interface JwksConfig {
  url: string
  /** ms: bound on each fetch, body included */
  timeout: number
  /** ms: at most one fetch starts per cooldown (unknown kids, expiry, retries after a failure) */
  cooldown: number
  /** ms: floor and ceiling on the answer's Cache-Control max-age */
  minAge: number
  maxAge: number
  /** ms: how long the last good keys stay usable past their max-age while refetches fail */
  staleFor: number
}

export interface RotationConfig {
  reuseGraceSeconds: number
  /** seconds; 0 = no absolute limit */
  maxSessionAge: number
}

/** Everything the factories need, normalised once. Request code reads only this. */
export interface Config {
  types: Record<TokenType, TypeConfig>
  issuer?: string
  audience?: string | string[]
  decodeIssuer?: string[]
  decodeAudience?: string[]
  leeway: number
  encodeNbf: boolean
  identityClaim: string
  tokenLocation: TokenLocation[]
  header: { name: string, type: string }
  query: { name: string }
  cookies: CookieConfig
  csrf: CsrfConfig
  implicitRefresh: ImplicitRefreshConfig | false
  rotation: RotationConfig | false
  storeTimeout: number
  isRevoked?: AuthxOptions['isRevoked']
  getSubject?: AuthxOptions['getSubject']
  /** milliseconds since the epoch */
  now: () => number
  verifyCache: number
  exemptMethods: Set<string>
  maxTokenLength: number
  jwksRoute?: string
  jwks?: JwksConfig
}

const UNITS: Record<string, number> = {
  '': 1, ms: 0.001, s: 1, sec: 1, secs: 1, second: 1, seconds: 1,
  m: 60, min: 60, mins: 60, minute: 60, minutes: 60,
  h: 3600, hr: 3600, hrs: 3600, hour: 3600, hours: 3600,
  d: 86400, day: 86400, days: 86400, w: 604800, week: 604800, weeks: 604800, y: 31557600, year: 31557600, years: 31557600
}

/**
 * A duration in whole seconds (rounded up): a number of seconds, or `'15m'`, `'20d'`, `'90 s'`.
 * A bare numeric string is seconds too (unlike fast-jwt, where it would be milliseconds).
 */
export function parseDuration (value: number | string, path: string): number {
  let seconds = NaN
  if (typeof value === 'number') seconds = value
  else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value)
    const unit = m === null ? undefined : UNITS[m[2].toLowerCase()]
    if (m !== null && unit !== undefined) seconds = Number(m[1]) * unit
  }
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 100 * 31557600) {
    throw badOptions(path, 'a positive number of seconds or a duration such as \'15m\' or \'20d\'')
  }
  return Math.ceil(seconds)
}

function lifetime (value: Lifetime | undefined, fallback: number, path: string): number | false {
  if (value === undefined) return fallback
  if (value === false) return false
  return parseDuration(value, path)
}

const list = <T>(v: T | T[] | undefined): T[] | undefined => v === undefined ? undefined : Array.isArray(v) ? v : [v]
const upper = (names: string[]) => new Set(names.map(n => n.toUpperCase()))

/** Checks the options' shape and returns the first problem as `FST_AUTHX_BAD_OPTIONS`. */
export function validateShape (options: unknown, schema: TSchema = AuthxOptionsSchema): void {
  if (options === null || typeof options !== 'object') throw badOptions('options', 'an object')
  const first = Value.Errors(schema, options).First()
  if (first === undefined) return
  const path = first.path === '' ? 'options' : first.path.slice(1).replace(/\//g, '.')
  throw badOptions(path, first.message.toLowerCase())
}

function fn (value: unknown, path: string): void {
  if (value !== undefined && typeof value !== 'function') throw badOptions(path, 'a function')
}

/** Claims the plugin writes itself: none of them can carry the subject (`sub` is the default one that does). */
const OWN_CLAIMS = new Set([...REGISTERED_CLAIMS].filter(claim => claim !== 'sub'))

/** Normalises everything but keys and the store, which have their own modules. */
export function normalise (o: AuthxOptions): Config {
  if (o.identityClaim !== undefined && OWN_CLAIMS.has(o.identityClaim)) {
    throw badOptions('identityClaim', `a claim of your own ('sub' or another name), not the registered claim '${o.identityClaim}'`)
  }
  fn(o.isRevoked, 'isRevoked')
  fn(o.getSubject, 'getSubject')
  fn(o.now, 'now')
  const c = o.cookies ?? {}
  const x = o.csrf ?? {}
  const cookies: CookieConfig = {
    domain: c.domain,
    secure: c.secure ?? true,
    sameSite: c.sameSite ?? 'lax',
    httpOnly: c.httpOnly ?? true,
    maxAge: c.maxAge === undefined || c.maxAge === false ? undefined : parseDuration(c.maxAge, 'cookies.maxAge')
  }
  if (cookies.sameSite === 'none' && !cookies.secure) {
    throw badOptions('cookies.sameSite', '\'none\' only with cookies.secure: true (browsers drop such cookies)')
  }
  const tokenLocation = list(o.tokenLocation) ?? ['headers']
  const protect = x.protect ?? true
  const csrf: CsrfConfig = {
    protect,
    claim: protect && tokenLocation.includes('cookies'),
    pairCookies: protect && (x.inCookies ?? true),
    methods: upper(x.methods ?? ['POST', 'PUT', 'PATCH', 'DELETE']),
    checkForm: x.checkForm ?? false
  }
  const j = o.json ?? {}
  const types: Record<TokenType, TypeConfig> = {
    access: {
      lifetime: lifetime(o.accessTokenExpires, 900, 'accessTokenExpires'),
      cookie: { name: c.accessName ?? 'access_token_cookie', path: c.accessPath ?? '/' },
      csrfCookie: { name: x.accessCookieName ?? 'csrf_access_token', path: x.accessCookiePath ?? '/' },
      csrfHeader: (x.accessHeader ?? 'X-CSRF-TOKEN').toLowerCase(),
      csrfField: x.accessField ?? 'csrf_token',
      jsonKey: j.accessKey ?? 'access_token'
    },
    refresh: {
      lifetime: lifetime(o.refreshTokenExpires, 20 * 86400, 'refreshTokenExpires'),
      cookie: { name: c.refreshName ?? 'refresh_token_cookie', path: c.refreshPath ?? '/' },
      csrfCookie: { name: x.refreshCookieName ?? 'csrf_refresh_token', path: x.refreshCookiePath ?? '/' },
      csrfHeader: (x.refreshHeader ?? 'X-CSRF-TOKEN').toLowerCase(),
      csrfField: x.refreshField ?? 'csrf_token',
      jsonKey: j.refreshKey ?? 'refresh_token'
    }
  }
  const ir = o.implicitRefresh === true ? {} : o.implicitRefresh
  const rot = o.rotation === true ? {} : o.rotation
  return {
    types,
    issuer: o.issuer,
    audience: o.audience,
    decodeIssuer: list(o.decodeIssuer),
    decodeAudience: list(o.decodeAudience),
    leeway: o.leeway ?? 0,
    encodeNbf: o.encodeNbf ?? true,
    identityClaim: o.identityClaim ?? 'sub',
    tokenLocation,
    header: { name: (o.header?.name ?? 'Authorization').toLowerCase(), type: o.header?.type ?? 'Bearer' },
    query: { name: o.query?.name ?? 'token' },
    cookies,
    csrf,
    implicitRefresh: ir === undefined || ir === false
      ? false
      : {
          deltaTime: ir.deltaTime === undefined ? 600 : parseDuration(ir.deltaTime, 'implicitRefresh.deltaTime'),
          routeInclude: new Set(ir.routeInclude ?? []),
          routeExclude: new Set(ir.routeExclude ?? []),
          methodInclude: upper(ir.methodInclude ?? []),
          methodExclude: upper(ir.methodExclude ?? [])
        },
    rotation: rot === undefined || rot === false
      ? false
      : {
          reuseGraceSeconds: rot.reuseGraceSeconds ?? 10,
          maxSessionAge: rot.maxSessionAge === undefined ? 0 : parseDuration(rot.maxSessionAge, 'rotation.maxSessionAge')
        },
    storeTimeout: o.storeTimeout ?? 200,
    isRevoked: o.isRevoked,
    getSubject: o.getSubject,
    // whole milliseconds: a fractional time would make no UUIDv7 (and so no dated jti or family)
    now: o.now === undefined ? Date.now : () => Math.floor((o.now as () => number)()),
    verifyCache: o.verifyCache === true ? 1000 : typeof o.verifyCache === 'number' ? o.verifyCache : 0,
    exemptMethods: upper(o.exemptMethods ?? ['OPTIONS']),
    maxTokenLength: o.maxTokenLength ?? 8192,
    jwksRoute: o.jwksRoute,
    jwks: remoteKeys(o)
  }
}

/**
 * `jwksUrl` and its `jwks` settings. Durations are seconds or `'30s'`-style strings (as lifetimes
 * are); `timeout` is milliseconds (as `storeTimeout` is).
 */
function remoteKeys (o: AuthxOptions): JwksConfig | undefined {
  if (o.jwksUrl === undefined) {
    if (o.jwks !== undefined) throw badOptions('jwks', 'only with jwksUrl')
    return undefined
  }
  let url: URL
  try { url = new URL(o.jwksUrl) } catch { throw badOptions('jwksUrl', 'an absolute http(s) URL') }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badOptions('jwksUrl', 'an absolute http(s) URL')
  const j = o.jwks ?? {}
  const ms = (v: number | string | undefined, fallback: number, path: string) => v === undefined ? fallback * 1000 : parseDuration(v, path) * 1000
  const config: JwksConfig = {
    url: url.href,
    timeout: j.timeout ?? 3000,
    cooldown: ms(j.cooldown, 30, 'jwks.cooldown'),
    minAge: ms(j.minAge, 60, 'jwks.minAge'),
    maxAge: ms(j.maxAge, 600, 'jwks.maxAge'),
    staleFor: ms(j.staleFor, 3600, 'jwks.staleFor')
  }
  if (config.minAge > config.maxAge) throw badOptions('jwks.minAge', 'at most jwks.maxAge')
  return config
}
