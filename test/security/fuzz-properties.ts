/**
 * Property-based fuzzing (fast-check) of every input the plugin reads, through `app.inject()`.
 * Shared by test/security/fuzz.test.ts (bounded, fixed seed, part of `npm test`) and
 * test/security/fuzz-long.ts (`npm run fuzz`: many more runs, random seed). Both print their seeds.
 *
 * Invariants (README "Guarding routes" and "Errors"; RFC 8725 §3.1):
 * - never a 5xx for anything a client sends;
 * - a refused request answers 400/401/403 and never reaches the handler, and its answer holds no token
 *   bytes or planted claim;
 * - a 2xx for a mutated input is allowed only when what was accepted is exactly the original token's
 *   claims (a canonically equal spelling: OWS, unused base64url bits): nothing new is ever accepted;
 * - for signed claim sets, the answer is 200 exactly when the claims are valid for the route (an oracle
 *   written from README "Guarding routes", independently of lib/).
 */
import fc from 'fast-check'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { keyPair } from '../helpers/app'
import { CANARY, DATA_CANARY, SECRET, carry, harness, hs, type Harness, type Location, type RouteKind } from './helpers'

export interface FuzzOptions {
  /** runs per property */
  runs: number
  /** base seed; property i uses seed + i */
  seed: number
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const printable = fc.integer({ min: 0x20, max: 0x7e }).map(c => String.fromCharCode(c))
const tokenChar = fc.oneof(fc.constantFrom(...B64URL.split('')), fc.constantFrom('.', '=', '+', '/', ' ', ',', ';', '%', '"', '\t', '\\'), printable)
const location = fc.constantFrom<Location>('headers', 'cookies', 'query', 'json')

type Mutation =
  | { op: 'flipBit', seg: number, pos: number, bit: number }
  | { op: 'setChar', pos: number, ch: string }
  | { op: 'insert', pos: number, ch: string }
  | { op: 'delete', pos: number }
  | { op: 'truncate', keep: number }
  | { op: 'swap', i: number, j: number }
  | { op: 'dupSeg', i: number }
  | { op: 'dropSeg', i: number }
  | { op: 'claim', seg: number, key: string, value: unknown }
  | { op: 'lastBits', bits: number }
  | { op: 'case', pos: number }
  | { op: 'wrap', before: string, after: string }

const claimKey = fc.constantFrom('sub', 'type', 'jti', 'exp', 'nbf', 'iat', 'fresh', 'scopes', 'csrf', 'fam', 'alg', 'kid', 'typ', 'crit', 'jku', '__proto__', 'note')
const claimValue = fc.oneof(
  fc.constantFrom('access', 'refresh', 'none', 'HS512', 'RS256', 'admin', '', CANARY, 'other-subject', true, false, null, 0, -1, 1e400, ['admin'], ['admin:*'], {}),
  fc.integer(), fc.double(), fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })
)

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flipBit' as const), seg: fc.nat(2), pos: fc.nat(400), bit: fc.nat(7) }),
  fc.record({ op: fc.constant('setChar' as const), pos: fc.nat(600), ch: tokenChar }),
  fc.record({ op: fc.constant('insert' as const), pos: fc.nat(600), ch: tokenChar }),
  fc.record({ op: fc.constant('delete' as const), pos: fc.nat(600) }),
  fc.record({ op: fc.constant('truncate' as const), keep: fc.nat(600) }),
  fc.record({ op: fc.constant('swap' as const), i: fc.nat(2), j: fc.nat(2) }),
  fc.record({ op: fc.constant('dupSeg' as const), i: fc.nat(2) }),
  fc.record({ op: fc.constant('dropSeg' as const), i: fc.nat(2) }),
  fc.record({ op: fc.constant('claim' as const), seg: fc.nat(1), key: claimKey, value: claimValue }),
  fc.record({ op: fc.constant('lastBits' as const), bits: fc.nat(15) }),
  fc.record({ op: fc.constant('case' as const), pos: fc.nat(600) }),
  fc.record({ op: fc.constant('wrap' as const), before: fc.constantFrom('', ' ', '\t', '"', 'Bearer '), after: fc.constantFrom('', ' ', '\t', '"', '.', ',') })
)

/** Applies one mutation to a compact token (as a string: the result may no longer be a JWT at all). */
export function mutate (token: string, m: Mutation): string {
  const segs = token.split('.')
  const at = (pos: number, len: number) => (len === 0 ? 0 : pos % (len + 1))
  switch (m.op) {
    case 'flipBit': {
      if (segs[m.seg] === undefined) return token
      const bytes = Buffer.from(segs[m.seg], 'base64url')
      if (bytes.length === 0) return token
      bytes[m.pos % bytes.length] ^= 1 << m.bit
      segs[m.seg] = bytes.toString('base64url')
      return segs.join('.')
    }
    case 'setChar': { const p = at(m.pos, token.length - 1); return token.slice(0, p) + m.ch + token.slice(p + 1) }
    case 'insert': { const p = at(m.pos, token.length); return token.slice(0, p) + m.ch + token.slice(p) }
    case 'delete': { const p = at(m.pos, token.length - 1); return token.slice(0, p) + token.slice(p + 1) }
    case 'truncate': return token.slice(0, at(m.keep, token.length))
    case 'swap': { if (segs.length < 3) return token; [segs[m.i], segs[m.j]] = [segs[m.j], segs[m.i]]; return segs.join('.') }
    case 'dupSeg': { if (segs[m.i] === undefined) return token; segs.splice(m.i, 0, segs[m.i]); return segs.join('.') }
    case 'dropSeg': { if (segs.length < 2) return token; segs.splice(m.i % segs.length, 1); return segs.join('.') }
    case 'claim': {
      if (segs[m.seg] === undefined) return token
      let obj: Record<string, unknown>
      try { obj = JSON.parse(Buffer.from(segs[m.seg], 'base64url').toString('utf8')) } catch { return token }
      if (obj === null || typeof obj !== 'object') return token
      let text = JSON.stringify(obj)
      const value = JSON.stringify(m.value) ?? 'null'
      // as a raw member appended last (a duplicate name where the key exists: the lexically last wins)
      text = text === '{}' ? `{"${m.key}":${value}}` : `${text.slice(0, -1)},"${m.key}":${value}}`
      segs[m.seg] = Buffer.from(text).toString('base64url')
      return segs.join('.')
    }
    case 'lastBits': {
      const last = B64URL.indexOf(token.slice(-1))
      if (last === -1) return token
      return token.slice(0, -1) + B64URL[(last & ~15) | m.bits]
    }
    case 'case': {
      const p = at(m.pos, token.length - 1)
      const c = token[p] ?? ''
      const swapped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()
      return token.slice(0, p) + swapped + token.slice(p + 1)
    }
    case 'wrap': return m.before + token + m.after
  }
}

interface Base { h: Harness, token: string, claims: Record<string, unknown> }

function segmentsOf (token: string): string[] {
  return [token, ...token.split('.').filter(s => s.length >= 16)]
}

/** The shared refusal check, as a thrown Error (fast-check shrinks on it). */
function checkRefusedOrSame (res: LightMyRequestResponse, h: Harness, before: number, base: Base, label: string): void {
  const status = res.statusCode
  if (status >= 500) throw new Error(`${label}: ${status} ${res.body.slice(0, 200)}`)
  if (status === 200) {
    let accepted: unknown
    try { accepted = res.json().jti } catch { accepted = undefined }
    if (accepted !== base.claims.jti) throw new Error(`${label}: 200 for a different token (jti ${String(accepted)})`)
    if (h.handler.calls !== before + 1) throw new Error(`${label}: 200 but handler calls ${h.handler.calls - before}`)
    return
  }
  if (![400, 401, 403].includes(status)) throw new Error(`${label}: unexpected status ${status} ${res.body.slice(0, 200)}`)
  if (h.handler.calls !== before) throw new Error(`${label}: the handler ran for a ${status}`)
  const text = res.body + JSON.stringify(res.headers)
  for (const c of [...segmentsOf(base.token), CANARY, DATA_CANARY, SECRET]) {
    if (text.includes(c)) throw new Error(`${label}: the ${status} answer holds token bytes or a canary`)
  }
}

function request (loc: Location, token: string, route: RouteKind): InjectOptions {
  if (loc === 'cookies') return { method: 'GET', url: `/${route}`, headers: { cookie: `access_token_cookie=${token}` } }
  return carry(loc, token, route)
}

/** Header values a client can actually send: no CR/LF/NUL, Latin-1 only (else Node refuses it before the app). */
const sendable = (s: string) => !/[\r\n\u0000\u0100-\uffff]/.test(s)

export async function fuzz (t: Test, opts: FuzzOptions): Promise<void> {
  const { runs, seed } = opts
  t.comment(`fuzz: ${runs} runs per property, base seed ${seed} (property i uses seed + i); reproduce with FUZZ_SEED=${seed} FUZZ_RUNS=${runs}`)
  const hmac = await harness()
  const es = await harness({ algorithm: 'ES256', privateKey: keyPair('ES256').privateKey })
  t.teardown(async () => { await hmac.close(); await es.close() })
  const bases: Base[] = []
  for (const h of [hmac, es]) {
    for (let i = 0; i < 3; i++) {
      const token = h.app.createAccessToken(CANARY, { fresh: true, scopes: ['admin'], data: { note: DATA_CANARY } })
      bases.push({ h, token, claims: h.app.authx.verifyToken(token) as Record<string, unknown> })
    }
  }
  const params = (i: number) => ({ seed: seed + i, numRuns: runs, verbose: 1 as const })

  await t.test('P1 mutated tokens in every location are refused, or are the very same token', async t => {
    await fc.assert(fc.asyncProperty(
      fc.nat(bases.length - 1), fc.array(mutation, { minLength: 1, maxLength: 3 }), location, fc.constantFrom<RouteKind>('access', 'fresh', 'scoped'),
      async (b, mutations, loc, route) => {
        const base = bases[b]
        const mutated = mutations.reduce(mutate, base.token)
        fc.pre(mutated !== base.token)
        fc.pre(loc === 'query' || loc === 'json' || sendable(mutated))
        const before = base.h.handler.calls
        const res = await base.h.app.inject(request(loc, mutated, route))
        checkRefusedOrSame(res, base.h, before, base, `${JSON.stringify(mutations)} via ${loc} on /${route}`)
        return true
      }), params(0))
    t.pass(`P1 held for ${runs} runs (seed ${seed})`)
  })

  const valid = bases[0]
  const anyToken = fc.oneof(
    fc.constant(valid.token),
    fc.array(mutation, { minLength: 1, maxLength: 2 }).map(ms => ms.reduce(mutate, valid.token)),
    fc.string({ unit: printable, maxLength: 40 }),
    fc.constant('')
  )

  await t.test('P2 Authorization header values', async t => {
    const value = fc.oneof(
      fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Token', 'Bearer:', 'Bear', '', 'Bearer,'),
        fc.constantFrom(' ', '  ', '\t', '', ',', ', ', ' , '), anyToken,
        fc.constantFrom('', ' ', '  ', ',', ', x', ' x', `,${valid.token}`, ` ${valid.token}`, `, Bearer ${valid.token}`)).map(p => p.join('')),
      fc.string({ unit: printable, maxLength: 60 })
    )
    await fc.assert(fc.asyncProperty(value, async v => {
      fc.pre(sendable(v))
      const before = valid.h.handler.calls
      const res = await valid.h.app.inject({ method: 'GET', url: '/access', headers: { authorization: v } })
      checkRefusedOrSame(res, valid.h, before, valid, `Authorization ${JSON.stringify(v.slice(0, 80))}`)
      return true
    }), params(1))
    t.pass(`P2 held for ${runs} runs`)
  })

  await t.test('P3 Cookie headers and the CSRF header', async t => {
    const csrf = valid.h.app.authx.getCsrfToken(valid.token) as string
    const name = fc.oneof(fc.constantFrom('access_token_cookie', 'refresh_token_cookie', 'csrf_access_token', 'Access_Token_Cookie', 'access_token_cookie ', 'x'), fc.string({ unit: printable, maxLength: 8 }))
    const val = fc.oneof(anyToken, fc.constant(csrf), fc.constant(encodeURIComponent(valid.token)))
    const pair = fc.tuple(name, fc.constantFrom('=', '= ', ' ='), val).map(p => p.join(''))
    const cookie = fc.tuple(fc.array(pair, { minLength: 0, maxLength: 4 }), fc.constantFrom('; ', ';', ', ', ' ;')).map(([ps, sep]) => ps.join(sep))
    const csrfHeader = fc.option(fc.oneof(fc.constant(csrf), fc.string({ unit: printable, maxLength: 40 }), fc.constant(csrf + ' ')), { nil: undefined })
    await fc.assert(fc.asyncProperty(cookie, fc.constantFrom('GET', 'POST', 'DELETE'), csrfHeader, async (c, method, x) => {
      fc.pre(sendable(c) && (x === undefined || sendable(x)))
      const before = valid.h.handler.calls
      const headers: Record<string, string> = { cookie: c }
      if (x !== undefined) headers['x-csrf-token'] = x
      const res = await valid.h.app.inject({ method: method as any, url: '/access', headers })
      checkRefusedOrSame(res, valid.h, before, valid, `${method} Cookie ${JSON.stringify(c.slice(0, 80))} csrf ${JSON.stringify(x)}`)
      if (res.statusCode === 200 && method !== 'GET' && (x ?? '').trim() !== csrf) throw new Error(`${method} accepted without the CSRF value`)
      return true
    }), params(2))
    t.pass(`P3 held for ${runs} runs`)
  })

  await t.test('P4 query strings', async t => {
    const value = fc.oneof(anyToken.map(encodeURIComponent), anyToken, fc.constant(valid.token.replace(/\./g, '%2E')))
    const param = fc.tuple(fc.constantFrom('token', 'token[]', 'token[a]', 'Token', 'token ', 'tok%65n', 'x', '__proto__'), fc.constantFrom('=', ''), value).map(p => p.join(''))
    const query = fc.array(param, { minLength: 0, maxLength: 4 }).map(ps => ps.join('&'))
    await fc.assert(fc.asyncProperty(query, async q => {
      fc.pre(!/[#\s]/.test(q))
      const before = valid.h.handler.calls
      const res = await valid.h.app.inject({ method: 'GET', url: `/access?${q}` })
      checkRefusedOrSame(res, valid.h, before, valid, `query ${JSON.stringify(q.slice(0, 80))}`)
      return true
    }), params(3))
    t.pass(`P4 held for ${runs} runs`)
  })

  await t.test('P5 JSON bodies', async t => {
    const member = fc.oneof(anyToken, fc.jsonValue({ maxDepth: 3 }), fc.constant([valid.token]), fc.constant({ toString: valid.token }))
    const body = fc.oneof(
      fc.record({ access_token: member }, { requiredKeys: [] }).map(o => JSON.stringify(o)),
      fc.tuple(member, member).map(([a, b]) => `{"access_token":${JSON.stringify(a) ?? 'null'},"access_token":${JSON.stringify(b) ?? 'null'}}`),
      fc.jsonValue({ maxDepth: 3 }).map(v => JSON.stringify(v) ?? 'null'),
      fc.string({ unit: printable, maxLength: 60 })
    )
    const type = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=UTF-8')
    await fc.assert(fc.asyncProperty(body, type, async (payload, contentType) => {
      const before = valid.h.handler.calls
      const res = await valid.h.app.inject({ method: 'POST', url: '/access', headers: { 'content-type': contentType }, payload })
      checkRefusedOrSame(res, valid.h, before, valid, `JSON ${JSON.stringify(payload.slice(0, 80))}`)
      return true
    }), params(4))
    t.pass(`P5 held for ${runs} runs`)
  })

  await t.test('P6 signed claim sets: 200 exactly when the claims are valid for the route (oracle from README "Guarding routes")', async t => {
    // Times are drawn as offsets and made absolute at request time, so long runs stay correct.
    const rel = (n: number) => ({ rel: n })
    const relString = (n: number) => ({ relString: n })
    const MISSING = Symbol('missing')
    const opt = <T>(...values: T[]) => fc.constantFrom<T | typeof MISSING>(MISSING, ...values)
    const claims = fc.record({
      sub: opt<unknown>(CANARY, '', 0, 42, null, {}, ['a'], true, ' '),
      type: opt<unknown>('access', 'refresh', 'access', '', 'Access', 'ACCESS', null, 1, ['access'], 'refresh '),
      jti: opt<unknown>('j-1', 'f47ac10b-58cc-4372-a567-0e02b2c3d479', '', 7, null),
      exp: opt<unknown>(rel(600), rel(600.5), rel(-30), rel(1e6), relString(600), null, true, 0, -1, [600]),
      nbf: opt<unknown>(rel(-30), rel(300), relString(0), null, rel(-1)),
      iat: opt<unknown>(rel(0), rel(-30), relString(0), null, {}),
      fresh: opt<unknown>(true, false, 'true', 1, null),
      scopes: opt<unknown>(['admin'], ['admin:*'], ['admin:read'], ['user'], [], 'admin', [1], ['admin', 2], [['admin']], ['Admin']),
      fam: opt<unknown>('f-1', '', 3),
      csrf: opt<unknown>('c-1', '', 3)
    })
    const isText = (v: unknown) => typeof v === 'string' && v.length > 0
    const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v)
    function oracle (c: Record<string, unknown>, route: RouteKind): boolean {
      const has = (k: string) => c[k] !== MISSING
      if (!isText(c.sub) || !isText(c.jti)) return false
      if (c.type !== 'access' && c.type !== 'refresh') return false
      if (!has('exp') || !isNum(c.exp) || (c.exp as number) * 1000 <= Date.now()) return false
      if (has('nbf') && (!isNum(c.nbf) || (c.nbf as number) * 1000 > Date.now())) return false
      if (has('iat') && !isNum(c.iat)) return false
      if (has('scopes') && (!Array.isArray(c.scopes) || !c.scopes.every(s => typeof s === 'string'))) return false
      if (has('fam') && !isText(c.fam)) return false
      if (has('csrf') && !isText(c.csrf)) return false
      if (c.type !== (route === 'refresh' ? 'refresh' : 'access')) return false
      if (route === 'fresh' && c.fresh !== true) return false
      if (route === 'scoped') {
        const scopes = has('scopes') ? c.scopes as string[] : []
        if (!scopes.some(s => s === 'admin' || s === 'admin:*')) return false
      }
      return true
    }
    await fc.assert(fc.asyncProperty(claims, location, fc.constantFrom<RouteKind>('access', 'refresh', 'fresh', 'scoped'), async (c, loc, route) => {
      const now = Math.floor(Date.now() / 1000)
      const payload: Record<string, unknown> = {}
      const resolved: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(c)) {
        let value: unknown = v
        if (v !== null && typeof v === 'object' && 'rel' in v) value = now + (v as { rel: number }).rel
        else if (v !== null && typeof v === 'object' && 'relString' in v) value = String(now + (v as { relString: number }).relString)
        resolved[k] = value
        if (value !== MISSING) payload[k] = value
      }
      const token = hs(payload)
      const expected = oracle(resolved, route)
      const names = route === 'refresh' ? 'refresh' : 'access'
      const before = hmac.handler.calls
      const res = await hmac.app.inject(loc === 'cookies'
        ? { method: 'GET', url: `/${route}`, headers: { cookie: `${names}_token_cookie=${token}` } }
        : carry(loc, token, route))
      const label = `${JSON.stringify(payload)} via ${loc} on /${route}`
      if (res.statusCode >= 500) throw new Error(`${label}: ${res.statusCode}`)
      if ((res.statusCode === 200) !== expected) throw new Error(`${label}: expected ${expected ? '200' : 'a refusal'}, got ${res.statusCode} ${res.body.slice(0, 160)}`)
      if (!expected) {
        if (![400, 401, 403].includes(res.statusCode)) throw new Error(`${label}: status ${res.statusCode}`)
        if (hmac.handler.calls !== before) throw new Error(`${label}: the handler ran`)
        if (res.body.includes(CANARY)) throw new Error(`${label}: the refusal echoes a claim`)
      }
      return true
    }), params(5))
    t.pass(`P6 held for ${runs} runs`)
  })

  // The logs of everything above: no token bytes of the bases, no data canary, no secret.
  const logged = hmac.logs.join('') + es.logs.join('')
  const leaks = [...bases.flatMap(b => segmentsOf(b.token).slice(1)), DATA_CANARY, SECRET].filter(c => logged.includes(c))
  t.same(leaks.map(l => l.slice(0, 8)), [], 'no token bytes, planted claim or secret in any log line of the fuzz run')
}
