/**
 * Attack class 10: revocation ordering and keying.
 * Sources: README "Guarding routes" ("The store is never consulted for a token that failed an earlier check"),
 * "Revocation, rotation and sessions" ("Revocation is keyed on the verified `jti`, never on the encoded string"); RFC 7519 §4.1.7 (jti); RFC 8725 §3.1 (verify
 * before use); OWASP JWT cheat sheet "Token explicit revocation by the user" (denylist keyed on a digest /
 * id); GHSA-rp9m-7r4c-75qg (fast-jwt cache confusion: the verify cache must never stand in for revocation);
 * CWE-400 (an unauthenticated request must not cost a store round trip).
 */
import t from 'tap'
import { keyPair, testClock } from '../helpers/app'
import { ProbeStore } from '../helpers/stores'
import { LOCATIONS, SECRET, b64, body, carry, claims, expectAccepted, expectRefused, harness, hs, jws, type Harness } from './helpers'

const REVOKED = 'FST_AUTHX_REVOKED_TOKEN'

t.test('the store and isRevoked see no call for a token refused by an earlier check (README "Guarding routes", checks in order)', async t => {
  const probe = new ProbeStore()
  let isRevokedCalls = 0
  const h = await harness({
    secret: SECRET,
    store: probe,
    isRevoked: () => { isRevokedCalls++; return false },
    implicitRefresh: true,
    issuer: 'https://iss.example',
    decodeIssuer: 'https://iss.example'
  }, {
    setup (app, hit) { app.get('/page', async () => { hit(); return { page: true } }) }
  })
  const now = Math.floor(Date.now() / 1000)
  const iss = 'https://iss.example'
  const wrongKey = 'wrong-secret-wrong-secret-wrong-secret!!'
  const negatives: Array<[string, string, 'access' | 'refresh' | 'fresh' | 'scoped']> = [
    ['forged signature', hs(claims({ iss }), undefined, wrongKey), 'access'],
    ['alg none', `${b64({ alg: 'none' })}.${b64(claims({ iss }))}.`, 'access'],
    ['RS256 on HMAC', jws({ alg: 'RS256' }, claims({ iss }), keyPair('RS256').privateKey), 'access'],
    ['expired', hs(claims({ iss, exp: now - 10 })), 'access'],
    ['nbf in the future', hs(claims({ iss, nbf: now + 100 })), 'access'],
    ['wrong issuer', hs(claims({ iss: 'https://evil.example' })), 'access'],
    ['no issuer', hs(claims()), 'access'],
    ['refresh token on an access route', hs(claims({ iss, type: 'refresh' })), 'access'],
    ['access token on a refresh route', hs(claims({ iss, type: 'access' })), 'refresh'],
    ['not fresh on a fresh route', hs(claims({ iss, fresh: false })), 'fresh'],
    ['scopes missing', hs(claims({ iss, scopes: ['user'] })), 'scoped'],
    ['sub not a string', hs(claims({ iss, sub: 42 })), 'access'],
    ['unknown kid', hs(claims({ iss }), { alg: 'HS256', kid: 'nope' }), 'access'],
    ['truncated', hs(claims({ iss })).slice(0, -10), 'access'],
    ['over maxTokenLength', hs(claims({ iss, pad: 'x'.repeat(9000) })), 'access']
  ]
  for (const [what, token, route] of negatives) {
    for (const location of LOCATIONS) {
      await expectRefused(t, h, carry(location, token, route), [token], { label: `${what} via ${location}` })
    }
  }
  // cookie-specific refusals: CSRF missing / mismatch on a POST
  const good = h.app.createAccessToken('u')
  await expectRefused(t, h, { method: 'POST', url: '/access', headers: { cookie: `access_token_cookie=${good}` } }, [good], { code: 'FST_AUTHX_CSRF_MISSING' })
  await expectRefused(t, h, { method: 'POST', url: '/access', headers: { cookie: `access_token_cookie=${good}`, 'x-csrf-token': 'x' } }, [good], { code: 'FST_AUTHX_CSRF_MISMATCH' })
  // no token, malformed header
  await expectRefused(t, h, { method: 'GET', url: '/access' }, [], { code: 'FST_AUTHX_MISSING_TOKEN' })
  await expectRefused(t, h, { method: 'GET', url: '/access', headers: { authorization: `Bearer ${good} ${good}` } }, [good], { status: 400 })
  // implicit refresh on an unguarded page: an expired or forged access cookie costs no store call either
  for (const token of [hs(claims({ iss, exp: now - 5 })), hs(claims({ iss }), undefined, wrongKey), hs(claims({ iss, type: 'refresh' }))]) {
    const res = await h.app.inject({ method: 'GET', url: '/page', headers: { cookie: `access_token_cookie=${token}` } })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['set-cookie'], undefined, 'no refresh from a bad cookie')
  }
  t.same(probe.counts(), {}, 'the store saw no call at all')
  t.equal(isRevokedCalls, 0, 'isRevoked saw no call')

  // control: a valid token costs exactly one status read (the synchronous one) and one isRevoked()
  await expectAccepted(t, h, carry('headers', good))
  t.same(probe.counts(), { statusNow: 1 }, 'one status read for a valid token')
  t.equal(isRevokedCalls, 1)
  await h.close()
})

t.test('revocation holds for every string that verifies to the same claims (keyed on jti: README "Revocation, rotation and sessions")', async t => {
  const h = await harness()
  const token = h.app.createAccessToken('alice', { fresh: true, data: { role: 'user' } })
  const c = h.app.authx.verifyToken(token) as Record<string, unknown>
  await expectAccepted(t, h, carry('headers', token), 'before revocation')
  await h.app.authx.revokeToken(token)

  const json = JSON.stringify(c)
  const variants: Array<[string, string]> = [
    ['members reordered', hs(JSON.stringify(Object.fromEntries(Object.entries(c).reverse())))],
    ['pretty-printed payload', hs(JSON.stringify(c, null, 2))],
    ['payload with spaces', hs(json.replace(/,/g, ', ').replace(/:/g, ' : '))],
    ['unicode escapes in the subject', hs(json.replace('"alice"', '"\\u0061lic\\u0065"'))],
    ['escaped solidus in the jti', hs(json.replace(`"jti":"${String(c.jti)}"`, `"jti":"${String(c.jti).replace(/-/g, '\\u002d')}"`))],
    ['exp written as a float', hs(json.replace(`"exp":${String(c.exp)}`, `"exp":${String(c.exp)}.0`))],
    ['exp in exponent form', hs(json.replace(`"exp":${String(c.exp)}`, `"exp":${String(c.exp)}e0`))],
    ['an extra unknown claim', hs({ ...c, extra: 1 })],
    ['fewer claims (no data, no nbf)', hs({ ...c, role: undefined, nbf: undefined })],
    ['a duplicate jti, last wins', hs(json.slice(0, -1) + `,"jti":"${String(c.jti)}"}`)],
    ['header members reordered', hs(c, { typ: 'JWT', alg: 'HS256' })],
    ['header without typ', hs(c, { alg: 'HS256' })],
    ['header with extra members', hs(c, { alg: 'HS256', typ: 'JWT', cty: 'x', foo: [1] })],
    ['header pretty-printed', jws(JSON.stringify({ alg: 'HS256', typ: 'JWT' }, null, 1), c, SECRET, { alg: 'HS256' })]
  ]
  // the non-canonical spellings of the original signature (2 unused bits)
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const last = alphabet.indexOf(token.slice(-1))
  for (let low = 0; low < 4; low++) {
    const ch = alphabet[(last & ~3) | low]
    if (ch !== token.slice(-1)) variants.push([`signature last char ${ch}`, token.slice(0, -1) + ch])
  }
  for (const [what, variant] of variants) {
    t.not(variant, token, `${what} is another string`)
    const verified = h.app.authx.verifyToken(variant)
    t.equal(verified.jti, c.jti, `${what} verifies to the same jti`)
    for (const location of LOCATIONS) {
      await expectRefused(t, h, carry(location, variant, 'fresh'), [variant], { code: REVOKED, label: `${what} via ${location}` })
    }
  }
  // a token of the same subject with another jti is untouched
  await expectAccepted(t, h, carry('headers', h.app.createAccessToken('alice')), 'another jti of the same subject')
  await h.close()
})

t.test('revoking by payload, by family and by subject holds for re-encoded tokens too', async t => {
  const h = await harness()
  // by payload
  const a = h.app.createAccessToken('alice')
  await h.app.authx.revokeToken(h.app.authx.verifyToken(a))
  const ca = h.app.authx.verifyToken(a)
  for (const location of LOCATIONS) await expectRefused(t, h, carry(location, hs({ ...ca })), [], { code: REVOKED, label: `by payload, re-encoded, via ${location}` })

  // by family: every token of the family, whatever its jti
  const pair = h.app.createTokenPair('bob')
  const fam = h.app.authx.verifyToken(pair.access_token).fam as string
  t.equal(await h.app.authx.revokeFamily(h.app.authx.verifyToken(pair.refresh_token)), true)
  const sibling = hs(claims({ sub: 'bob', fam }))
  const siblingRefresh = hs(claims({ sub: 'bob', fam, type: 'refresh' }))
  for (const location of LOCATIONS) {
    await expectRefused(t, h, carry(location, sibling), [sibling], { code: REVOKED, label: `another jti of the revoked family via ${location}` })
    await expectRefused(t, h, carry(location, siblingRefresh, 'refresh'), [siblingRefresh], { code: REVOKED, label: `a refresh token of the revoked family via ${location}` })
  }

  // by subject: tokens issued until now, whatever their jti format. A jti that is no UUIDv7, or one whose
  // time falls outside the iat second, dates the token by the earliest the claims allow (README: the cut-off rule).
  const now = Math.floor(Date.now() / 1000)
  await h.app.authx.revokeAllSessions('carol')
  for (const jti of ['plain-id', '00000000-0000-4000-8000-000000000000', h.app.authx.verifyToken(h.app.createAccessToken('zed')).jti]) {
    const old = hs(claims({ sub: 'carol', jti, iat: now - 10 }))
    for (const location of LOCATIONS) await expectRefused(t, h, carry(location, old), [old], { code: REVOKED, label: `carol, jti ${jti.slice(0, 12)}, via ${location}` })
  }
  await expectAccepted(t, h, carry('headers', hs(claims({ sub: 'dave' }))), 'another subject is untouched')
  await h.close()
})

t.test('the verify cache never stands in for revocation or expiry (GHSA-rp9m-7r4c-75qg; README "Options", verifyCache)', async t => {
  const clock = testClock()
  const h = await harness({ secret: SECRET, verifyCache: true, now: clock.now })
  const token = h.app.createAccessToken('u')
  for (const location of LOCATIONS) await expectAccepted(t, h, carry(location, token), `cached via ${location}`)
  await h.app.authx.revokeToken(token)
  for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token), [token], { code: REVOKED, label: `revoked while cached, via ${location}` })
  // a tampered token that shares everything but the last signature bits is not a cache hit
  const other = h.app.createAccessToken('v')
  await expectAccepted(t, h, carry('headers', other))
  const tampered = other.slice(0, -2) + (other.slice(-2, -1) === 'A' ? 'B' : 'A') + other.slice(-1)
  await expectRefused(t, h, carry('headers', tampered), [tampered], { code: 'FST_AUTHX_INVALID_TOKEN' })
  // expiry while cached
  // dated by the harness's clock, not the wall clock (which may have moved into the next second since)
  const at = Math.floor(clock.now() / 1000)
  const short = hs(claims({ iat: at, nbf: at, exp: at + 2 }))
  await expectAccepted(t, h, carry('headers', short), 'short-lived, cached')
  clock.advance(2000)
  await expectRefused(t, h, carry('headers', short), [short], { code: 'FST_AUTHX_TOKEN_EXPIRED', label: 'expired while cached' })
  t.equal(body(await h.app.inject(carry('headers', h.app.createAccessToken('w')))).sub, 'w')
  await h.close()
})

t.test('checkRevoked: false is an explicit opt-out, and it is route-local', async t => {
  const h: Harness = await harness(undefined, {
    setup (app, hit) { app.get('/unchecked', { preValidation: app.authx.guard({ checkRevoked: false }) }, async () => { hit(); return {} }) }
  })
  const token = h.app.createAccessToken('u')
  await h.app.authx.revokeToken(token)
  await expectAccepted(t, h, { method: 'GET', url: '/unchecked', headers: { authorization: `Bearer ${token}` } }, 'opt-out route')
  await expectRefused(t, h, carry('headers', token), [token], { code: REVOKED, label: 'other routes still check' })
  await h.close()
})
