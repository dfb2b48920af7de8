import t from 'tap'
import Fastify from 'fastify'
import authx, { MemoryStore, type AuthxOptions, type TokenStore } from '../lib/index'
import { SECRET, bearer, build, hs256, testClock } from './helpers/app'

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
  await t.rejects(app.authx.revokeToken({} as any), TypeError)
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
  await t.rejects(app.authx.revokeFamily({ sub: 'alice' } as any), TypeError, 'neither a family nor a jti: nothing to name')
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

/** A store whose every call is counted, and that can be told to fail or hang. */
function probeStore (mode: { fail?: boolean, hang?: boolean } = {}) {
  const inner = new MemoryStore()
  const calls: string[] = []
  const store = new Proxy(inner, {
    get (target, name, receiver) {
      const value = Reflect.get(target, name, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        calls.push(String(name))
        if (mode.fail === true) return Promise.reject(new Error('READONLY You can\'t write against a read only replica. secret=hunter2'))
        if (mode.hang === true) return new Promise(() => {})
        return value.apply(target, args)
      }
    }
  }) as TokenStore
  return { store, calls, mode }
}

t.test('1,000 forged tokens cause zero store calls', async t => {
  const probe = probeStore()
  const app = await build({ secret: SECRET, store: probe.store })
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
  t.same(probe.calls, ['status'], 'a valid token: one store call')
  await app.close()
})

t.test('fail closed: a store that throws, and one that never answers', async t => {
  for (const mode of [{ fail: true }, { hang: true }]) {
    const probe = probeStore()
    const logs: string[] = []
    const app = Fastify({ logger: { level: 'error', stream: { write: (l: string) => { logs.push(l) } } } })
    await app.register(authx, { secret: SECRET, store: probe.store, storeTimeout: 50, rotation: true } as AuthxOptions)
    let ran = 0
    app.get('/p', { onRequest: app.requireAccess }, async () => { ran++; return 'ok' })
    app.post('/rotate', { onRequest: app.requireRefresh }, async req => await app.authx.rotateRefreshToken(req.tokenPayload))
    const token = app.createAccessToken('alice')
    t.equal((await app.inject({ url: '/p', headers: bearer(token) })).statusCode, 200, 'healthy first')
    Object.assign(probe.mode, mode)
    const started = Date.now()
    const res = await app.inject({ url: '/p', headers: bearer(token) })
    t.equal(res.statusCode, 503, `${JSON.stringify(mode)}: 503`)
    t.same(res.json(), { statusCode: 503, code: 'FST_AUTHX_STORE_UNAVAILABLE', error: 'Service Unavailable', message: 'Token checks are unavailable; try again later' })
    t.notMatch(res.body, /READONLY|hunter2|replica/, 'no driver text')
    t.equal(ran, 1, 'the handler did not run')
    t.ok(Date.now() - started < 2000, 'bounded by storeTimeout')
    t.ok(logs.some(l => /token store unavailable/.test(l)), 'logged with its cause')
    const rot = await app.inject({ method: 'POST', url: '/rotate', headers: bearer(app.createRefreshToken('alice')) })
    t.equal(rot.statusCode, 503, 'rotation fails closed too')
    await t.rejects(app.authx.revokeToken(token), { code: 'FST_AUTHX_STORE_UNAVAILABLE' }, 'revokeToken rejects')
    await t.rejects(app.authx.listSessions('alice'), { code: 'FST_AUTHX_STORE_UNAVAILABLE' }, 'listSessions rejects')
    await app.close()
  }
})
