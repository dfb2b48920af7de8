import t from 'tap'
import { MemoryStore } from '../lib/index'
import { SECRET, bearer, build, hs256, tamperSignature, testClock } from './helpers/app'
import { ProbeStore } from './helpers/stores'

t.test('revokeToken by payload or by encoded token, keyed on jti', async t => {
  const app = await build()
  const a = app.createAccessToken('alice')
  const b = app.createAccessToken('alice')
  await app.authx.revokeToken(a)
  let res = await app.inject({ url: '/access', headers: bearer(a) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'FST_AUTHX_REVOKED_TOKEN')
  t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token", error_description="The token has been revoked"')
  t.equal((await app.inject({ url: '/access', headers: bearer(b) })).statusCode, 200, 'another token of the same subject works')
  res = await app.inject({ url: '/access', headers: bearer(b) })
  const payload = app.authx.verifyToken(b)
  await app.authx.revokeToken(payload)
  t.equal((await app.inject({ url: '/access', headers: bearer(b) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'revoked by payload')
  await t.rejects(app.authx.revokeToken('not.a.token'), { code: 'FST_AUTHX_INVALID_TOKEN' }, 'an encoded token is verified first')
  await t.rejects(app.authx.revokeToken({} as any), { code: 'FST_AUTHX_BAD_ARGUMENT' })
  await app.close()
})

t.test('revocation holds for every string that verifies (keyed on jti, never on the string)', async t => {
  const app = await build()
  const token = app.createAccessToken('alice')
  await app.authx.revokeToken(token)
  // Same claims re-encoded with another member order: a different string with the same jti.
  const claims = app.authx.verifyToken(token)
  const reordered = hs256(Object.fromEntries(Object.entries(claims).reverse()))
  t.not(reordered, token)
  t.equal((await app.inject({ url: '/access', headers: bearer(reordered) })).json().code, 'FST_AUTHX_REVOKED_TOKEN')
  await app.close()
})

t.test('revokeAllSessions: every token issued until now, not those issued afterwards', async t => {
  const app = await build()
  const pair = app.createTokenPair('alice')
  const other = app.createAccessToken('bob')
  await app.authx.revokeAllSessions('alice')
  t.equal((await app.inject({ url: '/access', headers: bearer(pair.access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN')
  t.equal((await app.inject({ url: '/refresh', headers: bearer(pair.refresh_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN')
  t.equal((await app.inject({ url: '/access', headers: bearer(other) })).statusCode, 200, 'other subjects unaffected')
  const after = app.createAccessToken('alice')
  t.equal((await app.inject({ url: '/access', headers: bearer(after) })).statusCode, 200, 'a token issued afterwards (same second) works')
  await app.close()
})

t.test('the cut-off rule: issued at or before the cut-off millisecond is revoked, after it is not', async t => {
  const clock = testClock(Date.UTC(2026, 11, 3, 12, 0, 0, 500))
  const app = await build({ secret: SECRET, now: clock.now })
  const earlier = app.createAccessToken('carol')
  clock.advance(1)
  const atCutoff = app.createAccessToken('carol')
  await app.authx.revokeAllSessions('carol') // the cut-off is now(): 12:00:00.501
  const sameMs = app.createAccessToken('carol')
  clock.advance(1)
  const after = app.createAccessToken('carol') // 12:00:00.502: the same second, one millisecond later
  for (const [name, token] of [['a millisecond before', earlier], ['at the cut-off', atCutoff], ['in the cut-off millisecond, after the call', sameMs]]) {
    t.equal((await app.inject({ url: '/access', headers: bearer(token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', `${name}: revoked`)
  }
  t.equal((await app.inject({ url: '/access', headers: bearer(after) })).statusCode, 200, 'a millisecond after, in the same second: accepted (dated by the jti, not the iat second)')
  await app.close()
})

t.test('revokeAllSessions resolves once the clock has passed its cut-off: a login right after always works', async t => {
  const app = await build()
  let refused = 0
  for (let i = 0; i < 200; i++) {
    await app.authx.revokeAllSessions('erin')
    if ((await app.inject({ url: '/access', headers: bearer(app.createAccessToken('erin')) })).statusCode !== 200) refused++
  }
  t.equal(refused, 0, '200 logouts each followed at once by a login: every new token accepted')
  await app.close()
})

t.test('revokeToken of a token something was minted from ends what was minted (its family)', async t => {
  const app = await build({ secret: SECRET, rotation: { reuseGraceSeconds: 0 } })
  const refresh = app.createRefreshToken('frank') // no family: what is rotated from it is named after it
  const rotated = await app.authx.rotateRefreshToken(app.authx.verifyToken(refresh))
  const sibling = app.createTokenPair('frank')
  await app.authx.revokeToken(refresh)
  t.equal((await app.inject({ url: '/access', headers: bearer(rotated.access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'the access token rotated from it')
  t.equal((await app.inject({ url: '/refresh', headers: bearer(rotated.refresh_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'the refresh token rotated from it')
  t.equal((await app.inject({ url: '/access', headers: bearer(sibling.access_token) })).statusCode, 200, 'another login of the subject is untouched')
  const unused = app.createTokenPair('frank')
  await app.authx.revokeToken(unused.refresh_token)
  t.equal((await app.inject({ url: '/access', headers: bearer(unused.access_token) })).statusCode, 200, 'a token nothing was minted from is revoked alone')
  await app.close()
})

t.test('a rotation that timed out (503) but landed: a retry within the grace window gets a pair; after it, reuse', async t => {
  // A store whose redeem lands, then answers too late for storeTimeout, on the first call only.
  class LateOnce extends MemoryStore {
    late = true
    override async redeem (...args: Parameters<MemoryStore['redeem']>): ReturnType<MemoryStore['redeem']> {
      const status = await super.redeem(...args)
      if (this.late) { this.late = false; await new Promise(() => {}) }
      return status
    }
  }
  for (const retryAfter of [9_999, 10_000]) {
    const clock = testClock()
    const store = new LateOnce()
    const app = await build({ secret: SECRET, rotation: { reuseGraceSeconds: 10 }, store, storeTimeout: 50, now: clock.now }, app => {
      app.post('/rotate', { onRequest: app.requireRefresh }, async request => await app.authx.rotateRefreshToken(request.tokenPayload))
    })
    const pair = await app.authx.createSession('grace')
    const first = await app.inject({ method: 'POST', url: '/rotate', headers: bearer(pair.refresh_token) })
    t.equal(first.statusCode, 503, 'the first attempt timed out: 503, no pair')
    t.equal(first.json().code, 'FST_AUTHX_STORE_UNAVAILABLE')
    clock.advance(retryAfter)
    const retry = await app.inject({ method: 'POST', url: '/rotate', headers: bearer(pair.refresh_token) })
    if (retryAfter < 10_000) {
      t.equal(retry.statusCode, 200, 'a retry within the grace window gets a pair')
      t.equal((await app.inject({ url: '/access', headers: bearer(retry.json().access_token) })).statusCode, 200, 'and the family lives')
    } else {
      t.equal(retry.json().code, 'FST_AUTHX_REFRESH_TOKEN_REUSED', 'a retry once the grace window is over is reuse')
      t.equal((await app.inject({ url: '/access', headers: bearer(pair.access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'and the family is ended')
    }
    await app.close()
  }
})

t.test('revokeFamily by id or by payload', async t => {
  const app = await build()
  const one = app.createTokenPair('alice')
  const two = app.createTokenPair('alice')
  const three = app.createTokenPair('alice')
  const fam = app.authx.verifyToken(one.access_token).fam as string
  t.equal(await app.authx.revokeFamily(fam), true, 'a createTokenPair family is found by id')
  t.equal((await app.inject({ url: '/access', headers: bearer(one.access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN')
  t.equal((await app.inject({ url: '/refresh', headers: bearer(one.refresh_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN')
  t.equal((await app.inject({ url: '/access', headers: bearer(two.access_token) })).statusCode, 200, 'other families unaffected')
  t.equal(await app.authx.revokeFamily(app.authx.verifyToken(three.refresh_token)), true, 'by payload')
  t.equal((await app.inject({ url: '/access', headers: bearer(three.access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN')
  const four = app.createTokenPair('alice')
  t.equal(await app.authx.revokeFamily({ sub: 'alice', fam: app.authx.verifyToken(four.access_token).fam }), true, 'by { sub, fam }')
  t.equal((await app.inject({ url: '/refresh', headers: bearer(four.refresh_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN')
  await t.rejects(app.authx.revokeFamily({ sub: 'alice' } as any), { code: 'FST_AUTHX_BAD_ARGUMENT' }, 'neither a family nor a jti: nothing to name')
  await t.rejects(app.authx.revokeFamily('0190aaaa-0000-7000-8000-000000000000'), { code: 'FST_AUTHX_UNKNOWN_FAMILY', statusCode: 404 },
    'an id the store never recorded throws: it never resolves quietly')
  const plain = app.createAccessToken('dave')
  await t.rejects(app.authx.revokeFamily(app.authx.verifyToken(plain).jti), { code: 'FST_AUTHX_UNKNOWN_FAMILY' },
    'the family named after a token exists once something was minted from it')
  t.equal(await app.authx.revokeFamily(app.authx.verifyToken(plain)), true, 'by payload, a token without a family revokes the one named after it')
  t.equal((await app.inject({ url: '/access', headers: bearer(plain) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'itself included')
  const session = await app.authx.createSession('carol')
  const sfam = app.authx.verifyToken(session.access_token).fam as string
  t.equal(await app.authx.revokeFamily(sfam), true, 'a session family is found by id')
  t.equal((await app.inject({ url: '/access', headers: bearer(session.access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN')
  await app.close()
})

t.test('1,000 forged tokens cause zero store calls', async t => {
  const probe = new ProbeStore()
  const app = await build({ secret: SECRET, store: probe })
  const good = app.createAccessToken('alice')
  const [head, body] = good.split('.')
  for (let i = 0; i < 1000; i++) {
    const forged = i % 4 === 0
      ? hs256({ sub: 'alice', type: 'access', jti: `j${i}`, exp: 9999999999 }, 'wrong-secret-wrong-secret-wrong-secret')
      : i % 4 === 1 ? `${head}.${body}.${Buffer.from(String(i)).toString('base64url')}`
        : i % 4 === 2 ? hs256({ sub: 'alice', type: 'access', jti: `j${i}`, exp: 1 }) // expired
          : hs256({ sub: 'alice', type: 'refresh', jti: `j${i}`, exp: 9999999999 }) // wrong type
    const res = await app.inject({ url: '/access', headers: bearer(forged) })
    if (res.statusCode !== 401) t.fail(`forged token ${i} answered ${res.statusCode}`)
  }
  t.equal(probe.calls.length, 0, 'the store was never consulted')
  t.equal((await app.inject({ url: '/access', headers: bearer(good) })).statusCode, 200)
  t.same(probe.calls, ['statusNow'], 'a valid token: one store call, the synchronous read')
  await app.close()
})

// Findings of the adversarial review of the revocation change, each pinned.

t.test('revokeToken of an expired token still ends what was minted from it', async t => {
  const clock = testClock()
  const app = await build({ secret: SECRET, tokenLocation: ['headers', 'cookies'], implicitRefresh: true, accessTokenExpires: 60, now: clock.now }, app => {
    app.get('/page', async () => ({ page: true }))
  })
  const access = app.createAccessToken('ann')
  const res = await app.inject({ url: '/page', headers: { cookie: `access_token_cookie=${access}` } })
  const extended = /access_token_cookie=([^;]+)/.exec(String(res.headers['set-cookie']))?.[1] as string
  t.ok(extended, 'implicit refresh minted a new access token')
  clock.advance(60_000) // the original has expired; the extended one (dated a moment later) too, so mint again
  const rotating = await build({ secret: SECRET, rotation: { reuseGraceSeconds: 0 }, now: clock.now })
  const r1 = rotating.createRefreshToken('ann', { expiresIn: 60 })
  const r2 = await rotating.authx.rotateRefreshToken(rotating.authx.verifyToken(r1))
  clock.advance(60_000) // r1 has expired, r2 (20 days) lives
  await rotating.authx.revokeToken(r1) // encoded and expired: verified all the same
  t.equal((await rotating.inject({ url: '/refresh', headers: bearer(r2.refresh_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'the pair rotated from it is refused')
  t.equal((await rotating.inject({ url: '/access', headers: bearer(r2.access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN')
  await t.rejects(rotating.authx.revokeToken(tamperSignature(r1)), { code: 'FST_AUTHX_INVALID_TOKEN' }, 'an expired token must still verify')
  await app.close(); await rotating.close()
})

t.test('expiresIn cannot outlive the longest configured lifetime (revocation entries would expire first)', async t => {
  const app = await build()
  t.throws(() => app.createRefreshToken('a', { expiresIn: '90d' }), /longest configured lifetime/)
  t.throws(() => app.createAccessToken('a', { expiresIn: false }), /longest configured lifetime/)
  t.ok(app.createRefreshToken('a', { expiresIn: '20d' }), 'up to the longest is fine')
  t.ok(app.createAccessToken('a', { expiresIn: '1d' }), 'an access token may live as long as a refresh token')
  await app.close()
  const forever = await build({ secret: SECRET, refreshTokenExpires: false })
  t.ok(forever.createAccessToken('a', { expiresIn: false }), 'with a lifetime configured false, any')
  await forever.close()
})

t.test('a few milliseconds of clock skew: logins on the faster instance are covered by a cut-off from the slower one', async t => {
  const store = new MemoryStore()
  // 100 ms into a second, so that the faster clock's tokens carry the same nbf second as the slower one
  const slow = testClock(Math.floor(Date.now() / 1000) * 1000 + 100)
  const fast = testClock(slow.now() + 25)
  const a = await build({ secret: SECRET, store, now: slow.now })
  const b = await build({ secret: SECRET, store, now: fast.now })
  const session = await b.authx.createSession('skew')
  const pair = b.createTokenPair('skew')
  await a.authx.revokeAllSessions('skew')
  for (const [name, token] of [['createSession', session.access_token], ['createTokenPair', pair.access_token]]) {
    t.equal((await a.inject({ url: '/access', headers: bearer(token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', `${name} on the instance 25 ms ahead: revoked`)
  }
  await a.close(); await b.close()
})

t.test('revokeFamily({ sub, fam }) must name that subject\'s own family, or it throws', async t => {
  const app = await build()
  const victim = app.createTokenPair('victim')
  const fam = app.authx.verifyToken(victim.access_token).fam as string
  await t.rejects(app.authx.revokeFamily({ sub: 'mallory', fam }), { code: 'FST_AUTHX_UNKNOWN_FAMILY' }, 'another subject\'s family: nothing quietly "revoked"')
  await t.rejects(app.authx.revokeFamily({ sub: 'victim', fam: 'no-such-family' }), { code: 'FST_AUTHX_UNKNOWN_FAMILY' })
  t.equal((await app.inject({ url: '/access', headers: bearer(victim.access_token) })).statusCode, 200)
  await app.close()
})

t.test('the clock: a fractional now() still makes dated ids; a token without iat is covered by any cut-off', async t => {
  const clock = testClock()
  const app = await build({ secret: SECRET, rotation: { reuseGraceSeconds: 0, maxSessionAge: 60 }, now: () => clock.now() + 0.5 })
  const pair = app.createTokenPair('frac')
  t.match(app.authx.verifyToken(pair.access_token).jti, /^[0-9a-f]{8}-[0-9a-f]{4}-7/, 'the jti is a UUIDv7')
  const refresh = app.authx.verifyToken(pair.refresh_token)
  t.ok((refresh.exp as number) <= Math.floor(clock.now() / 1000) + 60, 'so maxSessionAge can date the family: the refresh token ends with it')
  clock.advance(61_000)
  await t.rejects(app.authx.rotateRefreshToken(refresh), { code: 'FST_AUTHX_TOKEN_EXPIRED' }, 'and rotation past it is refused')
  await app.close()
  const plain = await build()
  const { iat, ...claims } = plain.authx.verifyToken(plain.createAccessToken('noiat'))
  void iat
  const noIat = hs256({ ...claims, jti: '7fffffff-ffff-7fff-bfff-ffffffffffff' }) // a jti dated far ahead, no iat
  t.equal((await plain.inject({ url: '/access', headers: bearer(noIat) })).statusCode, 200)
  await plain.authx.revokeAllSessions('noiat')
  t.equal((await plain.inject({ url: '/access', headers: bearer(noIat) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'no iat: the claims allow any age, so any cut-off covers it')
  await plain.close()
})

t.test('refreshAccessToken: explicit refresh that a revocation landing meanwhile covers', async t => {
  const clock = testClock()
  const app = await build({ secret: SECRET, now: clock.now }, app => {
    app.post('/refresh-access', { onRequest: app.requireRefresh }, async request => await app.authx.refreshAccessToken(request.tokenPayload))
  })
  const pair = app.createTokenPair('rex', { scopes: ['read'], data: { role: 'x' } })
  const res = await app.inject({ method: 'POST', url: '/refresh-access', headers: bearer(pair.refresh_token) })
  t.equal(res.statusCode, 200)
  t.strictSame(Object.keys(res.json()), ['access_token'], 'the AccessTokenResponseSchema shape')
  const minted = app.authx.verifyToken(res.json().access_token)
  t.equal(minted.fam, app.authx.verifyToken(pair.refresh_token).fam, 'in the refresh token\'s family')
  t.equal(minted.fresh, false)
  t.strictSame(minted.scopes, ['read'])
  t.equal((await app.inject({ method: 'POST', url: '/refresh-access', headers: bearer(pair.refresh_token) })).statusCode, 200, 'without rotation a refresh token refreshes again')
  await app.authx.revokeToken(pair.refresh_token)
  t.equal((await app.inject({ url: '/access', headers: bearer(res.json().access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'revoking the refresh token ends what it minted')
  await app.close()
  const rotating = await build({ secret: SECRET, rotation: true })
  await t.rejects(rotating.authx.refreshAccessToken(rotating.authx.verifyToken(rotating.createRefreshToken('r'))), /rotateRefreshToken/, 'with rotation, rotate')
  await rotating.close()
})
