/**
 * Shared harness for the adversarial suite (test/security/*.test.ts).
 *
 * - `harness()` builds an app with every token location enabled, guards at `preValidation` (so the JSON
 *   body is readable), a handler call counter, and a `trace`-level logger writing into an array.
 * - `carry()` puts a token into one transport (headers, cookies, query, JSON body).
 * - `expectRefused()` is the one assertion every negative case goes through (attack class 13): the
 *   status is a refusal (400/401/403, 503 only where a store failure is the point), the handler did not
 *   run, and neither the response (body + headers) nor the logs of that request hold the token bytes, its
 *   segments, the planted canaries, key material or a stack trace.
 * - `jws()` / `claims()` forge tokens: any header, any payload (raw JSON strings are used verbatim), any key.
 * - Each test file is one attack class; importing this module makes the file report its cases when it
 *   ends: `# security cases: <class> <refused> refused, <accepted> accepted`, where a case is one request
 *   (`expectRefused()`: refused; `expectAccepted()`: a positive control). scripts/test.js adds them up.
 */
import { createHmac, createPrivateKey, KeyObject, randomUUID, sign as cryptoSign, constants } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyRequest, type InjectOptions, type LightMyRequestResponse } from 'fastify'
import { basename } from 'node:path'
import tap, { type Test } from 'tap'
import authx, { type AuthxOptions } from '../../lib/index'
import { SECRET, b64, hs256 } from '../helpers/app'

export { SECRET, b64 }

/** This file's cases: requests refused through `expectRefused()`, accepted through `expectAccepted()`. */
export const cases = { refused: 0, accepted: 0 }

// A test file (one per attack class) reports its cases once all its tests have run.
const file = process.argv[1] ?? ''
if (file.endsWith('.test.ts')) {
  const attackClass = basename(file, '.test.ts')
  tap.teardown(() => { tap.comment(`security cases: ${attackClass} ${cases.refused} refused, ${cases.accepted} accepted`) })
}

export type Location = 'headers' | 'cookies' | 'query' | 'json'
export const LOCATIONS: Location[] = ['headers', 'cookies', 'query', 'json']

/** Planted in `sub` and in a data claim of every forged token: must never come back in a refusal or a log line. */
export const CANARY = 'cnry-5e1f0b7d-sub'
export const DATA_CANARY = 'cnry-a93c44d2-data'

export interface Counter { calls: number }

export interface Harness {
  app: FastifyInstance
  /** every log line (JSON) the app wrote, at level trace */
  logs: string[]
  /** handler invocations of every guarded route */
  handler: Counter
  /** key material of this instance: HMAC secrets and PEM body lines */
  secrets: string[]
  close: () => Promise<void>
}

export type RouteKind = 'access' | 'refresh' | 'fresh' | 'any' | 'scoped'

/**
 * Fastify's default `req` serializer logs the URL with its query string, i.e. a query-string token
 * (RFC 6750 §2.3 and §5.3 warn about exactly this). SECURITY.md tells apps that enable the `query`
 * location to strip it; the harness does what SECURITY.md says.
 */
export const reqSerializer = (req: FastifyRequest | { method: string, url: string }) => ({
  method: req.method,
  url: typeof req.url === 'string' ? req.url.split('?', 1)[0] : req.url
})

function pemLines (key: unknown): string[] {
  let text: string | undefined
  if (key instanceof KeyObject) {
    text = key.type === 'private'
      ? key.export({ type: 'pkcs8', format: 'pem' }) as string
      : key.export({ type: 'spki', format: 'pem' }) as string
  } else if (typeof key === 'string') text = key
  else if (Buffer.isBuffer(key)) text = key.toString('utf8')
  if (text === undefined) return []
  if (!text.includes('-----BEGIN')) return text.length >= 8 ? [text] : []
  return text.split(/\r?\n/).filter(l => l.length >= 16 && !l.startsWith('-----'))
}

function keyMaterial (o: AuthxOptions): string[] {
  const out: string[] = []
  out.push(...pemLines(o.secret))
  const prev = o.previousSecret === undefined ? [] : Array.isArray(o.previousSecret) ? o.previousSecret : [o.previousSecret]
  for (const p of prev) out.push(...pemLines(typeof p === 'object' && !Buffer.isBuffer(p) ? p.secret : p))
  out.push(...pemLines(o.privateKey))
  if (o.privateKey instanceof KeyObject && o.privateKey.type === 'private') {
    // the private scalar / exponent as JWK members too
    const jwk = o.privateKey.export({ format: 'jwk' }) as Record<string, string>
    for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi']) if (typeof jwk[m] === 'string') out.push(jwk[m])
  }
  return out
}

export interface HarnessOptions {
  /** extra routes; `hit()` counts as a handler call */
  setup?: (app: FastifyInstance, hit: () => void) => void | Promise<void>
  /** route guards run at this hook (default preValidation, so the JSON body is read) */
  hook?: 'onRequest' | 'preValidation' | 'preHandler'
  /** Fastify options merged in (e.g. bodyLimit) */
  fastify?: Record<string, unknown>
}

/** An app with every location enabled (unless `tokenLocation` is given) and counted, guarded routes. */
export async function harness (options: AuthxOptions = { secret: SECRET }, extra: HarnessOptions = {}): Promise<Harness> {
  const logs: string[] = []
  const handler: Counter = { calls: 0 }
  const app = Fastify({
    logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line) } }, serializers: { req: reqSerializer as any } },
    ...extra.fastify
  })
  const opts: AuthxOptions = { tokenLocation: LOCATIONS, ...options }
  await app.register(authx, opts)
  const hook = extra.hook ?? 'preValidation'
  const echo = async (request: FastifyRequest) => {
    handler.calls++
    const p = request.tokenPayload as Record<string, unknown> | null
    // Echo only what the tests need to compare identities; the canaries come back only on success.
    return { sub: p?.sub, jti: p?.jti, type: p?.type, fresh: p?.fresh, location: request.tokenLocation }
  }
  const all = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as any
  const routes: Array<[string, unknown]> = [
    ['/access', app.requireAccess],
    ['/refresh', app.requireRefresh],
    ['/fresh', app.requireFresh],
    ['/any', app.authx.guard({ type: 'any' })],
    ['/scoped', app.authx.guard({ scopes: ['admin'] })]
  ]
  for (const [url, guard] of routes) {
    app.route({ method: all, url, [hook]: guard, handler: echo } as any)
  }
  if (extra.setup !== undefined) await extra.setup(app, () => { handler.calls++ })
  await app.ready()
  return { app, logs, handler, secrets: keyMaterial(opts), close: async () => { await app.close() } }
}

const COOKIE: Record<'access' | 'refresh', string> = { access: 'access_token_cookie', refresh: 'refresh_token_cookie' }
const JSON_KEY: Record<'access' | 'refresh', string> = { access: 'access_token', refresh: 'refresh_token' }

export const typeOfRoute = (route: RouteKind): 'access' | 'refresh' => route === 'refresh' ? 'refresh' : 'access'

/**
 * A request carrying `token` in one location, for a route kind (which decides the cookie / JSON names).
 * Cookie and query requests use GET (no CSRF check: a safe method); JSON uses POST.
 * `names: 'access' | 'refresh'` overrides the names (a refresh token in the access cookie, …).
 */
export function carry (location: Location, token: string, route: RouteKind = 'access', names?: 'access' | 'refresh'): InjectOptions {
  const kind = names ?? typeOfRoute(route)
  const url = `/${route}`
  switch (location) {
    case 'headers': return { method: 'GET', url, headers: { authorization: `Bearer ${token}` } }
    case 'cookies': return { method: 'GET', url, headers: { cookie: `${COOKIE[kind]}=${token}` } }
    case 'query': return { method: 'GET', url: `${url}?token=${encodeURIComponent(token)}` }
    case 'json': return { method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ [JSON_KEY[kind]]: token }) }
  }
}

export interface Expect {
  /** allowed statuses (default 400, 401, 403) */
  status?: number | number[]
  /** the exact error code */
  code?: string | string[]
  /** allow 503 (store failures only) */
  allow503?: boolean
  label?: string
  /**
   * A variant that may be canonically equal to a valid token (OWS trimmed, unused base64url bits,
   * ECDSA high-S): if it is accepted, the accepted claims must be exactly the original's (same jti),
   * i.e. nothing new was accepted. The caller then checks that revoking the original holds for it.
   */
  orSameJti?: string
  /**
   * Store failures: the plugin logs the store's error (the cause) on one error line of its own, for
   * operators (lib/store-calls.ts). These canaries may appear on that line only, never in the response
   * or on any other line; that line is still checked for the token, claims and keys.
   */
  storeCause?: string[]
}

/** Splits tokens into their segments: each one is key material or planted data that must not leak. */
function expand (canaries: Array<string | undefined>, h?: Harness): string[] {
  const out = new Set<string>(h === undefined ? [] : [CANARY, DATA_CANARY, ...h.secrets])
  for (const c of canaries) {
    if (typeof c !== 'string') continue
    if (c.length >= 8) out.add(c)
    if (c.includes('.')) for (const s of c.split('.')) if (s.length >= 12) out.add(s)
  }
  return [...out]
}

function describe (request: InjectOptions): string {
  const headers = request.headers as Record<string, string> | undefined
  const where = headers?.authorization !== undefined
    ? 'header'
    : headers?.cookie !== undefined ? 'cookie' : String(request.url).includes('?') ? 'query' : request.payload !== undefined ? 'json' : 'none'
  return `${request.method ?? 'GET'} ${String(request.url).split('?')[0]} via ${where}`
}

/** Which canaries occur in `text` (their first characters only, so the failure message leaks nothing long). */
export function found (text: string, canaries: string[]): string[] {
  const hits = canaries.filter(c => text.includes(c)).map(c => `${c.slice(0, 10)}…(${c.length})`)
  if (text.includes('    at ')) hits.push('stack trace')
  return hits
}

/**
 * The assertion behind every negative case (class 13, errors and leakage): a refusal status, a
 * plugin-shaped error body, no handler call, no token cookie set, and nothing secret in the response
 * or in the log lines this request produced.
 */
export async function expectRefused (
  t: Test, h: Harness, request: InjectOptions, canaries: Array<string | undefined> = [], expect: Expect = {}
): Promise<LightMyRequestResponse> {
  const label = expect.label ?? describe(request)
  const before = h.handler.calls
  const mark = h.logs.length
  const res = await h.app.inject(request)
  if (expect.orSameJti !== undefined && res.statusCode === 200) {
    cases.accepted++
    t.equal(body(res)?.jti, expect.orSameJti, `${label}: accepted only as the very same token (same jti)`)
    t.equal(h.handler.calls, before + 1, `${label}: accepted once`)
    return res
  }
  cases.refused++
  const allowed = expect.status === undefined ? [400, 401, 403] : ([] as number[]).concat(expect.status)
  if (expect.allow503 === true) allowed.push(503)
  const ok = allowed.includes(res.statusCode)
  t.ok(ok, `${label}: refused (${res.statusCode}${ok ? '' : ' ' + res.body.slice(0, 120)})`)
  if (expect.code !== undefined) {
    let code: unknown
    try { code = res.json().code } catch { code = undefined }
    const codes = ([] as string[]).concat(expect.code)
    t.ok(codes.includes(code as string), `${label}: code ${String(code)} is ${codes.join(' | ')}`)
  }
  t.equal(h.handler.calls, before, `${label}: the handler did not run`)
  const setCookie = ([] as string[]).concat(res.headers['set-cookie'] ?? [])
  t.notOk(setCookie.some(c => /^(access|refresh)_token_cookie=[^;]+/.test(c)), `${label}: no token cookie set on a refusal`)
  const secrets = expand(canaries, h)
  const response = res.body + '\n' + JSON.stringify(res.headers)
  t.same(found(response, secrets), [], `${label}: the response leaks nothing`)
  const cause = new Set(expand(expect.storeCause ?? []))
  const hits = new Set<string>()
  for (const line of h.logs.slice(mark)) {
    if (expect.storeCause !== undefined && /token store unavailable/.test(line)) {
      // the cause's own stack and text are allowed on this one line; nothing else is
      const entry = JSON.parse(line)
      if (entry.err !== undefined) delete entry.err.stack
      for (const hit of found(JSON.stringify(entry), secrets.filter(s => !cause.has(s)))) hits.add(hit)
    } else for (const hit of found(line, secrets)) hits.add(hit)
  }
  t.same([...hits], [], `${label}: the logs leak nothing`)
  if (res.statusCode === 401) t.match(res.headers['www-authenticate'], /^Bearer/, `${label}: 401 carries a Bearer challenge`)
  return res
}

/** A positive control: the request reaches the handler exactly once and answers 200. */
export async function expectAccepted (t: Test, h: Harness, request: InjectOptions, label?: string): Promise<LightMyRequestResponse> {
  cases.accepted++
  const before = h.handler.calls
  const res = await h.app.inject(request)
  t.equal(res.statusCode, 200, `${label ?? describe(request)}: accepted (${res.statusCode === 200 ? '' : res.body.slice(0, 160)})`)
  t.equal(h.handler.calls, before + 1, `${label ?? describe(request)}: the handler ran once`)
  return res
}

/** Claims of a valid token, with overrides; an override of `undefined` removes the claim. */
export function claims (over: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  const base: Record<string, unknown> = {
    sub: CANARY, type: 'access', jti: randomUUID(), iat: now, nbf: now, exp: now + 600, fresh: true, note: DATA_CANARY
  }
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete base[k]
    else base[k] = v
  }
  return base
}

const HASH: Record<string, string> = { 256: 'sha256', 384: 'sha384', 512: 'sha512' }

/** The signature (base64url) of `input` for a JWS `alg`, with an HMAC key or a private key. */
export function signature (alg: string, input: string, key: string | Buffer | KeyObject): string {
  if (!(key instanceof KeyObject)) {
    const bits = /^HS(256|384|512)$/.exec(alg)?.[1] ?? '256'
    return createHmac(HASH[bits], key).update(input).digest('base64url')
  }
  const priv = key.type === 'private' ? key : createPrivateKey(key as any)
  if (alg === 'EdDSA') return cryptoSign(null, Buffer.from(input), priv).toString('base64url')
  const bits = alg.slice(2)
  if (alg.startsWith('ES')) return cryptoSign(HASH[bits], Buffer.from(input), { key: priv, dsaEncoding: 'ieee-p1363' }).toString('base64url')
  if (alg.startsWith('PS')) {
    return cryptoSign(HASH[bits], Buffer.from(input), { key: priv, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }).toString('base64url')
  }
  return cryptoSign(HASH[bits], Buffer.from(input), priv).toString('base64url')
}

/**
 * A compact JWS from any header and payload (strings are used verbatim as the JSON text), signed for
 * `alg` (default: the header's `alg` when it is a string, else HS256) with `key`, or with `sig` verbatim.
 */
export function jws (header: unknown, payload: unknown, key: string | Buffer | KeyObject = SECRET, opts: { alg?: string, sig?: string } = {}): string {
  const input = `${b64(header)}.${b64(payload)}`
  if (opts.sig !== undefined) return `${input}.${opts.sig}`
  const headerAlg = typeof header === 'object' && header !== null ? (header as Record<string, unknown>).alg : undefined
  const alg = opts.alg ?? (typeof headerAlg === 'string' && /^(HS|RS|PS|ES)(256|384|512)$|^EdDSA$/.test(headerAlg) ? headerAlg : 'HS256')
  return `${input}.${signature(alg, input, key)}`
}

/** An HS256 token with the harness secret: the claims are the only variable (`hs256` of test/helpers/app.ts, header before key). */
export const hs = (payload: unknown, header: unknown = { alg: 'HS256', typ: 'JWT' }, key: string | Buffer = SECRET) => hs256(payload, key, header)

/** Parse a response body, or undefined. */
export function body (res: LightMyRequestResponse): any {
  try { return res.json() } catch { return undefined }
}
