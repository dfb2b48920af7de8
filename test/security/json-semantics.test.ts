/**
 * Attack class 3: what the JSON inside a token means.
 * Sources: RFC 7519 §4 ("Claim Names within a JWT Claims Set MUST be unique; ... parsers MUST either
 * reject JWTs with duplicate Claim Names or use a JSON parser that returns only the lexically last
 * duplicate"), RFC 7515 §4 (same for header parameters), RFC 8259 §4 / §6 (duplicate names, numbers),
 * RFC 7519 §2 NumericDate, RFC 8725 §2.7 / §3.8 (substitution, claim validation); prototype pollution
 * (CWE-1321; express-jwt fix 551bf40); OWASP JWT cheat sheet "Token information disclosure".
 */
import t from 'tap'
import { CANARY, LOCATIONS, b64, body, carry, claims, expectAccepted, expectRefused, harness, hs, jws, SECRET, type RouteKind } from './helpers'

const INVALID = 'FST_AUTHX_INVALID_TOKEN'

/** Claims as raw JSON text with `extra` appended verbatim (for duplicate names and raw numbers). */
function rawClaims (over: Record<string, unknown>, extra = ''): string {
  const text = JSON.stringify(claims(over))
  return extra === '' ? text : text.slice(0, -1) + ',' + extra + '}'
}

t.test('duplicate claim names: whatever the parser keeps, the route type check holds (RFC 7519 §4, RFC 8725 §3.8)', async t => {
  const h = await harness()
  const cases: Array<[string, string]> = [
    ['refresh then access', rawClaims({ type: 'refresh' }).replace('"type":"refresh"', '"type":"refresh","type":"access"')],
    ['access then refresh', rawClaims({ type: 'access' }).replace('"type":"access"', '"type":"access","type":"refresh"')],
    ['access, then an invalid type', rawClaims({ type: 'access' }, '"type":"admin"')],
    ['access, then type null', rawClaims({ type: 'access' }, '"type":null')]
  ]
  for (const [what, json] of cases) {
    const kept = JSON.parse(json).type
    const token = hs(json)
    for (const route of ['access', 'refresh', 'fresh'] as RouteKind[]) {
      for (const location of LOCATIONS) {
        const request = carry(location, token, route)
        const wanted = route === 'refresh' ? 'refresh' : 'access'
        if (kept === wanted) {
          const res = await expectAccepted(t, h, request, `${what} on /${route} via ${location} (parser kept ${kept})`)
          t.equal(body(res).type, wanted, 'the type the guard checked is the type the app sees')
        } else {
          await expectRefused(t, h, request, [token], { label: `${what} on /${route} via ${location} (parser kept ${String(kept)})` })
        }
      }
    }
  }
  // duplicates of other claims: the guard and the app see one value, the lexically last
  const subDup = hs(rawClaims({ sub: 'first-subject' }, '"sub":"last-subject"'))
  t.equal(body(await h.app.inject(carry('headers', subDup))).sub, 'last-subject')
  const expDup = hs(rawClaims({ exp: Math.floor(Date.now() / 1000) + 600 }, `"exp":${Math.floor(Date.now() / 1000) - 600}`))
  await expectRefused(t, h, carry('headers', expDup), [expDup], { code: 'FST_AUTHX_TOKEN_EXPIRED', label: 'exp future then past: the past one holds' })
  const freshDup = hs(rawClaims({ fresh: true }, '"fresh":false'))
  await expectRefused(t, h, carry('headers', freshDup, 'fresh'), [freshDup], { code: 'FST_AUTHX_FRESH_TOKEN_REQUIRED', label: 'fresh true then false' })
  // duplicate header parameters: alg none last means none, whatever came before
  const c = claims()
  const input = `${b64('{"alg":"HS256","typ":"JWT","alg":"none"}')}.${b64(c)}`
  await expectRefused(t, h, carry('headers', `${input}.`), [input], { code: INVALID, label: 'header alg HS256 then none, unsigned' })
  const signedNone = jws('{"alg":"HS256","typ":"JWT","alg":"none"}', c, SECRET, { alg: 'HS256' })
  await expectRefused(t, h, carry('headers', signedNone), [signedNone], { code: INVALID, label: 'header alg HS256 then none, HMAC-signed' })
  await h.close()
})

t.test('duplicate jti: revocation is keyed on the jti the guard saw (RFC 7519 §4.1.7)', async t => {
  const h = await harness()
  const json = rawClaims({ jti: 'jti-first' }, '"jti":"jti-last"')
  const token = hs(json)
  await expectAccepted(t, h, carry('headers', token))
  await h.app.authx.revokeToken(token)
  for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token), [token], { code: 'FST_AUTHX_REVOKED_TOKEN' })
  // and a token that names only the last jti is revoked too; the first one is not a revocation key
  await expectRefused(t, h, carry('headers', hs(claims({ jti: 'jti-last' }))), [], { code: 'FST_AUTHX_REVOKED_TOKEN', label: 'the same jti, another spelling' })
  await expectAccepted(t, h, carry('headers', hs(claims({ jti: 'jti-first' }))), 'the shadowed jti was not revoked')
  await h.close()
})

t.test('__proto__, constructor and prototype claims pollute nothing (CWE-1321)', async t => {
  const seen: unknown[] = []
  const h = await harness(undefined, {
    setup (app, hit) {
      app.get('/inspect', { preValidation: app.requireAccess }, async request => {
        hit()
        const p = request.tokenPayload as Record<string, any>
        seen.push(p)
        return {
          plain: Object.getPrototypeOf(p) === Object.prototype,
          polluted: (p as any).polluted ?? null,
          ownProto: Object.hasOwn(p, '__proto__'),
          hasOwnWorks: typeof p.hasOwnProperty === 'function' ? 'fn' : typeof p.hasOwnProperty,
          keys: Object.keys(p)
        }
      })
    }
  })
  const payloads = [
    rawClaims({}, '"__proto__":{"polluted":"yes","isAdmin":true}'),
    rawClaims({}, '"constructor":{"prototype":{"polluted":"yes"}}'),
    rawClaims({}, '"prototype":{"polluted":"yes"}'),
    rawClaims({}, '"__proto__":{"__proto__":{"polluted":"yes"}},"constructor":{"prototype":{"polluted":"yes"}}'),
    rawClaims({ scopes: ['user'] }, '"__proto__":{"scopes":["admin"]}'),
    rawClaims({}, '"hasOwnProperty":"not-a-function","toString":"nope","valueOf":1')
  ]
  for (const json of payloads) {
    const token = hs(json)
    for (const location of LOCATIONS) {
      if (location === 'json') continue // /inspect is GET-only; the JSON location is covered on /access below
      const request = { ...carry(location, token), url: String(carry(location, token).url).replace('/access', '/inspect') }
      const res = await h.app.inject(request)
      t.equal(res.statusCode, 200, `${json.slice(-60)} via ${location}`)
      const b = body(res)
      t.equal(b.plain, true, 'tokenPayload has Object.prototype as its prototype')
      t.equal(b.polluted, null, 'nothing reached tokenPayload through its prototype')
      t.equal(({} as any).polluted, undefined, 'Object.prototype is untouched')
      t.equal((Object.prototype as any).isAdmin, undefined)
    }
    await expectAccepted(t, h, carry('json', token))
    t.equal(({} as any).polluted, undefined, 'Object.prototype is untouched after the JSON location')
  }
  // the scopes guard reads the own claim, never a prototype one
  const sneaky = hs(rawClaims({ scopes: ['user'] }, '"__proto__":{"scopes":["admin"]}'))
  for (const location of LOCATIONS) {
    await expectRefused(t, h, carry(location, sneaky, 'scoped'), [sneaky], { code: 'FST_AUTHX_INSUFFICIENT_SCOPE', label: `__proto__.scopes does not grant scopes via ${location}` })
  }
  const protoOnlyType = hs(rawClaims({ type: undefined }, '"__proto__":{"type":"access"}'))
  for (const location of LOCATIONS) {
    await expectRefused(t, h, carry(location, protoOnlyType), [protoOnlyType], { code: INVALID, label: `__proto__.type is not a type via ${location}` })
  }
  const protoSub = hs(rawClaims({ sub: undefined }, `"__proto__":{"sub":"${CANARY}"}`))
  await expectRefused(t, h, carry('headers', protoSub), [protoSub], { code: INVALID, label: '__proto__.sub is not a subject' })
  // verifyToken hands out the same plain copy
  const p = h.app.authx.verifyToken(hs(payloads[0])) as Record<string, unknown>
  t.equal(Object.getPrototypeOf(p), Object.prototype)
  t.equal((p as any).polluted, undefined)
  t.equal(seen.length > 0, true)
  await h.close()
})

t.test('__proto__ survives rotation and implicit refresh as plain data', async t => {
  const h = await harness({ secret: SECRET, rotation: { reuseGraceSeconds: 0 } }, {
    setup (app, hit) {
      app.post('/rotate', { preValidation: app.requireRefresh }, async request => { hit(); return await app.authx.rotateRefreshToken(request.tokenPayload) })
    }
  })
  const token = hs(rawClaims({ type: 'refresh', fresh: undefined }, '"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}'))
  const res = await h.app.inject({ method: 'POST', url: '/rotate', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 200)
  const next = h.app.authx.verifyToken(body(res).access_token) as Record<string, unknown>
  t.equal(Object.getPrototypeOf(next), Object.prototype)
  t.same(Object.getOwnPropertyDescriptor(next, '__proto__')?.value, { polluted: 'yes' }, 'carried over as a plain own claim')
  t.equal((next as any).polluted, undefined)
  t.equal(({} as any).polluted, undefined)
  await h.close()
})

t.test('deep nesting in claims and header (RFC 8259 §9 nesting limits)', async t => {
  const h = await harness()
  // as deep as fits under maxTokenLength (8192), validly signed: accepted without a crash
  const depth = 900
  const nested = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
  const deep = hs(rawClaims({}, `"deep":${nested}`))
  t.ok(deep.length <= 8192, `a ${depth}-deep claim fits in ${deep.length} chars`)
  const res = await h.app.inject(carry('headers', deep))
  t.equal(res.statusCode, 200, 'a deep, validly signed claim is just data')
  const arrays = hs(rawClaims({}, `"deep":${'['.repeat(2500)}${']'.repeat(2500)}`))
  t.ok(arrays.length <= 8192)
  t.equal((await h.app.inject(carry('headers', arrays))).statusCode, 200, '2500-deep arrays')
  // the same with a bad signature: refused
  for (const location of LOCATIONS) {
    const forged = deep.slice(0, -4) + 'AAAA'
    await expectRefused(t, h, carry(location, forged), [forged], { code: INVALID })
  }
  // deep nesting in the header
  const deepHeader = jws(`{"alg":"HS256","typ":"JWT","x":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`, claims(), SECRET, { alg: 'HS256' })
  t.equal((await h.app.inject(carry('headers', deepHeader))).statusCode, 200, 'a deep header member is ignored')
  await h.close()

  // a much deeper one under a raised maxTokenLength: refused or accepted, never a 5xx
  const big = await harness({ secret: SECRET, maxTokenLength: 1_000_000 })
  const deeper = '['.repeat(200_000) + ']'.repeat(200_000)
  const huge = hs(rawClaims({}, `"deep":${deeper}`))
  for (const location of ['headers', 'json'] as const) {
    const r = await big.app.inject(carry(location, huge))
    t.ok(r.statusCode < 500, `200 000-deep arrays via ${location}: ${r.statusCode}, never 5xx`)
    const forged = huge.slice(0, -4) + 'AAAA'
    await expectRefused(t, big, carry(location, forged), [forged], { code: INVALID, label: `200 000-deep, forged, via ${location}` })
  }
  await big.close()
})

t.test('non-object payloads and headers (RFC 7519 §7.2 step 10, RFC 7515 §4)', async t => {
  const h = await harness()
  for (const payload of ['[]', '["sub","type"]', `"${CANARY}"`, '42', '-1', '0', 'null', 'true', 'false', '""', '{}', '', ' ', '{"sub":"x"', 'NaN', 'Infinity', 'undefined', '\u0000']) {
    const token = hs(payload)
    for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token), [token], { code: INVALID, label: `payload ${JSON.stringify(payload)} via ${location}` })
  }
  for (const header of ['[]', '"HS256"', 'null', '42', 'true', '', '{"alg":"HS256"']) {
    const token = jws(header, claims(), SECRET, { alg: 'HS256' })
    for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token), [token], { code: INVALID, label: `header ${JSON.stringify(header)} via ${location}` })
  }
  // a payload that is not UTF-8
  const latin = `${b64({ alg: 'HS256', typ: 'JWT' })}.${Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64url')}`
  const token = `${latin}.${jws({ alg: 'HS256', typ: 'JWT' }, '{}').split('.')[2]}`
  await expectRefused(t, h, carry('headers', token), [token], { code: INVALID, label: 'payload bytes that are not UTF-8' })
  await h.close()
})

t.test('numeric edge cases in exp / nbf / iat (RFC 7519 §2 NumericDate, RFC 8259 §6)', async t => {
  const h = await harness()
  const now = Math.floor(Date.now() / 1000)
  const bad: Array<[string, string, string]> = [
    // [claim, raw JSON value, expected code]
    ['exp', '1e400', INVALID], // parses to Infinity: not a finite NumericDate
    ['exp', '-1e400', INVALID],
    ['exp', '-0', 'FST_AUTHX_TOKEN_EXPIRED'],
    ['exp', '0', 'FST_AUTHX_TOKEN_EXPIRED'],
    ['exp', '1.5', 'FST_AUTHX_TOKEN_EXPIRED'],
    ['exp', '-9007199254740993', 'FST_AUTHX_TOKEN_EXPIRED|FST_AUTHX_INVALID_TOKEN'], // beyond the Date range
    ['exp', `"${now + 600}"`, INVALID],
    ['exp', '"NaN"', INVALID],
    ['exp', '"Infinity"', INVALID],
    ['exp', 'null', INVALID],
    ['exp', 'true', INVALID],
    ['exp', `[${now + 600}]`, INVALID],
    ['exp', `{"$gt":0}`, INVALID],
    ['exp', '""', INVALID],
    ['nbf', '1e400', INVALID],
    ['nbf', `"${now}"`, INVALID],
    ['nbf', 'null', INVALID],
    ['nbf', `${now + 3600}.5`, INVALID],
    ['iat', '1e400', INVALID],
    ['iat', `"${now}"`, INVALID],
    ['iat', 'null', INVALID],
    ['iat', '[]', INVALID]
  ]
  for (const [claim, raw, code] of bad) {
    const json = rawClaims({ [claim]: undefined }, `"${claim}":${raw}`)
    const token = hs(json)
    for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token), [token], { code: code.split('|'), label: `${claim}: ${raw} via ${location}` })
  }
  // finite, well-typed extremes are dates like any other
  for (const raw of [`${now + 600}.999`, '9007199254740991', '1e300', `${now + 600}e0`, `${(now + 600) * 10}e-1`]) {
    const token = hs(rawClaims({ exp: undefined }, `"exp":${raw}`))
    await expectAccepted(t, h, carry('headers', token), `exp ${raw} is a future NumericDate`)
  }
  await h.close()
})
