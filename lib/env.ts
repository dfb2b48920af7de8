import { badOptions, type AuthxError } from './errors'
import { loadKeys } from './keys'
import { normalise, validateShape, type AuthxOptions } from './options'

type Kind = 'text' | 'name' | 'bool' | 'list' | 'names' | 'number' | 'lifetime' | 'duration' | 'pem' | 'pems' | 'sameSite' | 'headerType'

/**
 * Each variable and the option it sets (a dotted path), in AuthX's names; the last four are ours.
 * The README's AuthX table is this list.
 */
const VARIABLES: ReadonlyArray<readonly [string, string, Kind]> = [
  ['JWT_SECRET_KEY', 'secret', 'text'],
  ['JWT_PREVIOUS_SECRET_KEY', 'previousSecret', 'text'],
  ['JWT_PRIVATE_KEY', 'privateKey', 'pem'],
  ['JWT_PUBLIC_KEY', 'publicKey', 'pem'],
  ['JWT_PREVIOUS_PUBLIC_KEY', 'previousPublicKeys', 'pems'],
  ['JWT_ALGORITHM', 'algorithm', 'name'],
  ['JWT_DECODE_ALGORITHMS', 'decodeAlgorithms', 'list'],
  ['JWT_ACCESS_TOKEN_EXPIRES', 'accessTokenExpires', 'lifetime'],
  ['JWT_REFRESH_TOKEN_EXPIRES', 'refreshTokenExpires', 'lifetime'],
  ['JWT_ENCODE_ISSUER', 'issuer', 'name'],
  ['JWT_ENCODE_AUDIENCE', 'audience', 'names'],
  ['JWT_DECODE_ISSUER', 'decodeIssuer', 'names'],
  ['JWT_DECODE_AUDIENCE', 'decodeAudience', 'names'],
  ['JWT_DECODE_LEEWAY', 'leeway', 'number'],
  ['JWT_ENCODE_NBF', 'encodeNbf', 'bool'],
  ['JWT_IDENTITY_CLAIM', 'identityClaim', 'name'],
  ['JWT_TOKEN_LOCATION', 'tokenLocation', 'list'],
  ['JWT_HEADER_NAME', 'header.name', 'name'],
  ['JWT_HEADER_TYPE', 'header.type', 'headerType'],
  ['JWT_QUERY_STRING_NAME', 'query.name', 'name'],
  ['JWT_JSON_KEY', 'json.accessKey', 'name'],
  ['JWT_REFRESH_JSON_KEY', 'json.refreshKey', 'name'],
  ['JWT_ACCESS_COOKIE_NAME', 'cookies.accessName', 'name'],
  ['JWT_REFRESH_COOKIE_NAME', 'cookies.refreshName', 'name'],
  ['JWT_ACCESS_COOKIE_PATH', 'cookies.accessPath', 'name'],
  ['JWT_REFRESH_COOKIE_PATH', 'cookies.refreshPath', 'name'],
  ['JWT_COOKIE_DOMAIN', 'cookies.domain', 'name'],
  ['JWT_COOKIE_SECURE', 'cookies.secure', 'bool'],
  ['JWT_COOKIE_SAMESITE', 'cookies.sameSite', 'sameSite'],
  ['JWT_COOKIE_HTTP_ONLY', 'cookies.httpOnly', 'bool'],
  ['JWT_COOKIE_MAX_AGE', 'cookies.maxAge', 'lifetime'],
  ['JWT_COOKIE_CSRF_PROTECT', 'csrf.protect', 'bool'],
  ['JWT_CSRF_METHODS', 'csrf.methods', 'list'],
  ['JWT_CSRF_IN_COOKIES', 'csrf.inCookies', 'bool'],
  ['JWT_ACCESS_CSRF_COOKIE_NAME', 'csrf.accessCookieName', 'name'],
  ['JWT_REFRESH_CSRF_COOKIE_NAME', 'csrf.refreshCookieName', 'name'],
  ['JWT_ACCESS_CSRF_COOKIE_PATH', 'csrf.accessCookiePath', 'name'],
  ['JWT_REFRESH_CSRF_COOKIE_PATH', 'csrf.refreshCookiePath', 'name'],
  ['JWT_ACCESS_CSRF_HEADER_NAME', 'csrf.accessHeader', 'name'],
  ['JWT_REFRESH_CSRF_HEADER_NAME', 'csrf.refreshHeader', 'name'],
  ['JWT_CSRF_CHECK_FORM', 'csrf.checkForm', 'bool'],
  ['JWT_ACCESS_CSRF_FIELD_NAME', 'csrf.accessField', 'name'],
  ['JWT_REFRESH_CSRF_FIELD_NAME', 'csrf.refreshField', 'name'],
  ['JWT_IMPLICIT_REFRESH_DELTATIME', 'implicitRefresh.deltaTime', 'duration'],
  ['JWT_IMPLICIT_REFRESH_ROUTE_INCLUDE', 'implicitRefresh.routeInclude', 'list'],
  ['JWT_IMPLICIT_REFRESH_ROUTE_EXCLUDE', 'implicitRefresh.routeExclude', 'list'],
  ['JWT_IMPLICIT_REFRESH_METHOD_INCLUDE', 'implicitRefresh.methodInclude', 'list'],
  ['JWT_IMPLICIT_REFRESH_METHOD_EXCLUDE', 'implicitRefresh.methodExclude', 'list'],
  // Ours (AuthX has no such variable):
  ['JWT_IMPLICIT_REFRESH', 'implicitRefresh', 'bool'],
  ['JWT_KEY_ID', 'keyId', 'name'],
  ['JWT_JWKS_ROUTE', 'jwksRoute', 'name'],
  ['JWT_JWKS_URL', 'jwksUrl', 'name']
]

/** AuthX declares these but never reads them; they have no counterpart here either. */
const WITHOUT_EFFECT = new Set(['JWT_ERROR_MESSAGE_KEY', 'JWT_SESSION_COOKIE', 'JWT_SESSION_TRACKING', 'JWT_SESSION_UPDATE_LAST_ACTIVE'])
const KNOWN = new Set(VARIABLES.map(([name]) => name))
const BY_PATH = new Map(VARIABLES.map(([name, path]) => [path, name]))
/** Options whose presence means keys can be loaded (and checked) now. */
const KEY_OPTIONS = ['secret', 'privateKey', 'publicKey', 'jwksUrl'] as const

export interface EnvOptions {
  /**
   * Told about `JWT_*` variables that set nothing (a typo, or one AuthX never read): names only,
   * never values. Default: `process.emitWarning` with code `FST_AUTHX_ENV_IGNORED`.
   */
  warn?: (message: string) => void
}

const TRUE = new Set(['true', '1', 'yes', 'on'])
const FALSE = new Set(['false', '0', 'no', 'off'])
const NONE = new Set(['none', 'null', 'false'])
/** ISO 8601 durations, as pydantic reads AuthX's timedelta settings: `PT15M`, `P20D`, `P1DT12H`. */
const ISO_DURATION = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i

function parse (name: string, kind: Kind, raw: string): unknown {
  const value = raw.trim()
  const bad = (expected: string): AuthxError => badOptions(name, expected)
  switch (kind) {
    case 'text': return raw
    case 'name': return value
    case 'headerType': return NONE.has(value.toLowerCase()) ? '' : value
    case 'bool':
      if (TRUE.has(value.toLowerCase())) return true
      if (FALSE.has(value.toLowerCase())) return false
      throw bad('a boolean (true/false, 1/0, yes/no, on/off)')
    case 'number':
      if (!/^\d+(?:\.\d+)?$/.test(value)) throw bad('a number')
      return Number(value)
    case 'sameSite': {
      const v = value.toLowerCase()
      return v === 'false' ? false : v === 'true' ? true : v
    }
    case 'list':
    case 'names': {
      let items: unknown
      if (value.startsWith('[')) {
        try { items = JSON.parse(value) } catch { throw bad('a JSON list of strings or a comma-separated list') }
        if (!Array.isArray(items) || !items.every(i => typeof i === 'string')) throw bad('a JSON list of strings or a comma-separated list')
      } else items = value.split(',').map(s => s.trim()).filter(s => s.length > 0)
      const list = items as string[]
      return kind === 'names' && list.length === 1 ? list[0] : list
    }
    case 'lifetime':
    case 'duration': {
      if (kind === 'lifetime' && NONE.has(value.toLowerCase())) return false
      if (/^\d+$/.test(value)) return Number(value)
      const iso = ISO_DURATION.exec(value)
      if (iso !== null && value.length > 1 && value.toUpperCase() !== 'PT') {
        const [w, d, h, m, s] = iso.slice(1).map(n => Number(n ?? 0))
        return w * 604800 + d * 86400 + h * 3600 + m * 60 + s
      }
      return value
    }
    case 'pem': return pem(raw)
    case 'pems': {
      const text = pem(raw)
      const blocks = text.match(/-----BEGIN [^-]+-----[\s\S]*?-----END [^-]+-----/g)
      return blocks ?? [text]
    }
  }
}

/** A PEM put in one line of an env file, with `\n` spelled out, is turned back into lines. */
function pem (raw: string): string {
  return raw.includes('\n') ? raw : raw.replace(/\\n/g, '\n')
}

function set (target: Record<string, any>, path: string, value: unknown): void {
  const parts = path.split('.')
  let node = target
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {}
    node = node[part]
  }
  node[parts[parts.length - 1]] = value
}

/** Which variable sets this option path (or its closest parent). */
function variableOf (path: string): string | undefined {
  for (let p = path; p.length > 0; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    const name = BY_PATH.get(p)
    if (name !== undefined) return name
  }
  return undefined
}

/** Runs `check`; a bad option it reports is reported again under the variable that set it. */
function asVariable (check: () => void): void {
  try {
    check()
  } catch (err) {
    const m = /^fastify-authx: bad option ([^\s:]+): ([\s\S]*)$/.exec((err as Error).message)
    const name = m === null ? undefined : variableOf(m[1])
    if (m === null || name === undefined) throw err
    throw badOptions(`${name} (${m[1]})`, m[2])
  }
}

/**
 * AuthX's `JWT_*` environment variables read into options, validated as `register` would validate
 * them: a bad value throws `FST_AUTHX_BAD_OPTIONS` naming the variable. Empty variables count as
 * unset (except `JWT_HEADER_TYPE`, where empty means the whole header is the token).
 *
 * ```ts
 * await app.register(authx, optionsFromEnv())
 * ```
 */
export function optionsFromEnv (env: Record<string, string | undefined> = process.env, { warn }: EnvOptions = {}): AuthxOptions {
  const options: Record<string, any> = {}
  let implicitRefresh: unknown
  for (const [name, path, kind] of VARIABLES) {
    const raw = env[name]
    if (raw === undefined || (raw === '' && kind !== 'headerType')) continue
    const value = parse(name, kind, raw)
    if (path === 'implicitRefresh') implicitRefresh = value
    else set(options, path, value)
  }
  // AuthX turns implicit refresh on with its middleware; here JWT_IMPLICIT_REFRESH=true does.
  if (implicitRefresh === true) options.implicitRefresh = options.implicitRefresh ?? {}
  else if (options.implicitRefresh !== undefined) {
    const first = VARIABLES.find(([name, path]) => path.startsWith('implicitRefresh.') && env[name] !== undefined && env[name] !== '')
    throw badOptions(first?.[0] ?? 'JWT_IMPLICIT_REFRESH', 'JWT_IMPLICIT_REFRESH=true as well (implicit refresh is off unless asked for)')
  } else if (implicitRefresh === false) options.implicitRefresh = false

  const ignored = Object.keys(env).filter(n => n.startsWith('JWT_') && !KNOWN.has(n) && env[n] !== undefined).sort()
  if (ignored.length > 0) {
    const unknown = ignored.filter(n => !WITHOUT_EFFECT.has(n))
    const inert = ignored.filter(n => WITHOUT_EFFECT.has(n))
    const message = [
      unknown.length > 0 ? `unknown variables ignored: ${unknown.join(', ')}` : '',
      inert.length > 0 ? `AuthX variables without effect (AuthX never read them either): ${inert.join(', ')}` : ''
    ].filter(s => s !== '').join('; ')
    const say = warn ?? ((m: string) => { process.emitWarning(m, { code: 'FST_AUTHX_ENV_IGNORED' }) })
    say(`fastify-authx: ${message}`)
  }

  const result = options as AuthxOptions
  asVariable(() => { validateShape(result) })
  asVariable(() => { normalise(result) })
  if (KEY_OPTIONS.some(o => result[o] !== undefined)) {
    asVariable(() => { loadKeys(result, () => {}) })
  }
  return result
}
