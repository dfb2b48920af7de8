import t from 'tap'
import { SECRET, bearer, build, payloadOf, testClock } from './helpers/app'
import type { AuthxOptions } from '../lib/index'

async function rotatingApp (rotation: AuthxOptions['rotation'] = { reuseGraceSeconds: 0 }, extra: Partial<AuthxOptions> = {}) {
  return await build({ secret: SECRET, rotation, ...extra } as AuthxOptions, app => {
    app.post('/login', async req => await app.authx.createSession('alice', { request: req, scopes: ['read'], data: { role: 'admin' }, fresh: true }))
    app.post('/rotate', { onRequest: app.requireRefresh }, async req => await app.authx.rotateRefreshToken(req.tokenPayload))
    app.get('/sessions', async () => await app.authx.listSessions('alice'))
  })
}

t.test('createSession records the session; listSessions lists the live ones', async t => {
  const app = await rotatingApp()
  const before = Date.now()
  const res = await app.inject({ method: 'POST', url: '/login', headers: { 'user-agent': 'TestBrowser/1.0' }, remoteAddress: '203.0.113.7' })
  const pair = res.json()
  t.equal(pair.token_type, 'bearer')
  const access = payloadOf(pair.access_token)
  t.equal(access.fresh, true)
  t.same(access.scopes, ['read'])
  t.equal(access.role, 'admin')
  t.equal(access.fam, payloadOf(pair.refresh_token).fam, 'one family')
  const sessions = (await app.inject({ url: '/sessions' })).json()
  t.equal(sessions.length, 1)
  t.equal(sessions[0].fam, access.fam)
  t.equal(sessions[0].userAgent, 'TestBrowser/1.0')
  t.equal(sessions[0].ip, '203.0.113.7')
  t.ok(sessions[0].createdAt >= before && sessions[0].createdAt <= Date.now())
  t.equal(sessions[0].lastUsedAt, sessions[0].createdAt)
  await app.inject({ method: 'POST', url: '/login' })
  t.equal((await app.inject({ url: '/sessions' })).json().length, 2, 'two logins, two sessions, oldest first')
  await app.authx.revokeFamily(access.fam)
  t.equal((await app.inject({ url: '/sessions' })).json().length, 1, 'revokeFamily ends one')
  await app.authx.revokeAllSessions('alice')
  t.same((await app.inject({ url: '/sessions' })).json(), [], 'revokeAllSessions ends all')
  await app.close()
})

t.test('rotation: a new pair in the same family, the old refresh token consumed', async t => {
  const clock = testClock()
  const app = await rotatingApp(undefined, { now: clock.now })
  const pair = (await app.inject({ method: 'POST', url: '/login' })).json()
  clock.advance(5)
  const res = await app.inject({ method: 'POST', url: '/rotate', headers: bearer(pair.refresh_token) })
  t.equal(res.statusCode, 200)
  const next = res.json()
  const a = payloadOf(next.access_token)
  const r = payloadOf(next.refresh_token)
  t.equal(a.fam, payloadOf(pair.access_token).fam, 'same family')
  t.equal(r.fam, a.fam)
  t.equal(a.fresh, false, 'rotated access tokens are not fresh')
  t.equal(a.sub, 'alice')
  t.same(a.scopes, ['read'], 'scopes carried')
  t.equal(a.role, 'admin', 'data carried')
  t.same(r.scopes, ['read'])
  const [session] = (await app.inject({ url: '/sessions' })).json()
  t.equal(session.lastUsedAt, session.createdAt + 5, 'rotation updates lastUsedAt')
  t.equal((await app.inject({ method: 'POST', url: '/rotate', headers: bearer(next.refresh_token) })).statusCode, 200, 'the new refresh token rotates in turn')
  await app.close()
})

t.test('reuse after the grace window revokes the whole family', async t => {
  const app = await rotatingApp()
  const pair = (await app.inject({ method: 'POST', url: '/login' })).json()
  const next = (await app.inject({ method: 'POST', url: '/rotate', headers: bearer(pair.refresh_token) })).json()
  const again = await app.inject({ method: 'POST', url: '/rotate', headers: bearer(pair.refresh_token) })
  t.equal(again.statusCode, 401)
  t.equal(again.json().code, 'FST_AUTHX_REFRESH_TOKEN_REUSED', 'detected by requireRefresh, before the handler')
  t.equal((await app.inject({ url: '/access', headers: bearer(next.access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'the family\'s access tokens are revoked')
  t.equal((await app.inject({ method: 'POST', url: '/rotate', headers: bearer(next.refresh_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'and its refresh tokens')
  t.equal((await app.inject({ url: '/access', headers: bearer(pair.access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'even the first access token')
  t.same((await app.inject({ url: '/sessions' })).json(), [], 'the session is gone')
  const other = (await app.inject({ method: 'POST', url: '/login' })).json()
  t.equal((await app.inject({ url: '/access', headers: bearer(other.access_token) })).statusCode, 200, 'other sessions live on')
  await app.close()
})

t.test('within the grace window a second pair is issued and nothing is revoked', async t => {
  const app = await rotatingApp({ reuseGraceSeconds: 10 })
  const pair = (await app.inject({ method: 'POST', url: '/login' })).json()
  const one = await app.inject({ method: 'POST', url: '/rotate', headers: bearer(pair.refresh_token) })
  const two = await app.inject({ method: 'POST', url: '/rotate', headers: bearer(pair.refresh_token) })
  t.equal(one.statusCode, 200)
  t.equal(two.statusCode, 200, 'two tabs refreshing at once')
  t.not(one.json().refresh_token, two.json().refresh_token)
  t.equal((await app.inject({ url: '/access', headers: bearer(one.json().access_token) })).statusCode, 200)
  t.equal((await app.inject({ url: '/access', headers: bearer(two.json().access_token) })).statusCode, 200)
  await app.close()
})

t.test('rotation: true defaults to a 10 s grace window', async t => {
  const app = await rotatingApp(true)
  const pair = (await app.inject({ method: 'POST', url: '/login' })).json()
  await app.inject({ method: 'POST', url: '/rotate', headers: bearer(pair.refresh_token) })
  t.equal((await app.inject({ method: 'POST', url: '/rotate', headers: bearer(pair.refresh_token) })).statusCode, 200)
  await app.close()
})

t.test('concurrent rotation with no grace: exactly one wins', async t => {
  const app = await rotatingApp()
  const pair = (await app.inject({ method: 'POST', url: '/login' })).json()
  const results = await Promise.all(Array.from({ length: 20 }, async () => await app.inject({ method: 'POST', url: '/rotate', headers: bearer(pair.refresh_token) })))
  t.equal(results.filter(r => r.statusCode === 200).length, 1, 'one success')
  const losers = results.filter(r => r.statusCode !== 200)
  t.equal(losers.length, 19, 'every other refresh refused')
  t.same(losers.filter(r => r.json().code !== 'FST_AUTHX_REFRESH_TOKEN_REUSED' && r.json().code !== 'FST_AUTHX_REVOKED_TOKEN').map(r => r.body), [],
    'each as reuse, or as revoked once the reuse ended the family')
  await app.close()
})

t.test('rotation.maxSessionAge ends a family however often it rotates', async t => {
  const clock = testClock()
  const app = await rotatingApp({ reuseGraceSeconds: 0, maxSessionAge: 3 }, { now: clock.now })
  const pair = (await app.inject({ method: 'POST', url: '/login' })).json()
  const start = payloadOf(pair.access_token).iat
  t.ok(payloadOf(pair.refresh_token).exp <= start + 3, 'no token outlives the family deadline')
  let refresh = pair.refresh_token
  const rotated: string[] = []
  for (let i = 0; i < 2; i++) {
    clock.advance(1000)
    const res = await app.inject({ method: 'POST', url: '/rotate', headers: bearer(refresh) })
    t.equal(res.statusCode, 200, `rotation ${i + 1} within the family's age`)
    refresh = res.json().refresh_token
    t.type(refresh, 'string', `rotation ${i + 1} answered a refresh token`)
    rotated.push(refresh)
  }
  // After the loop, so that a failed rotation cannot end the test before these run.
  t.equal(rotated.length, 2, 'both rotations answered')
  t.same(rotated.map(token => payloadOf(token).exp <= start + 3), [true, true], 'every rotation stays within the deadline')
  clock.advance(1000)
  const late = await app.inject({ method: 'POST', url: '/rotate', headers: bearer(refresh) })
  t.equal(late.statusCode, 401)
  t.equal(late.json().code, 'FST_AUTHX_TOKEN_EXPIRED', 'the family has ended')
  await app.close()
})

t.test('rotateRefreshToken needs rotation and a refresh payload', async t => {
  const app = await build()
  await t.rejects(app.authx.rotateRefreshToken(app.authx.verifyToken(app.createRefreshToken('a'))), /rotation option/)
  await app.close()
  const rot = await rotatingApp()
  await t.rejects(rot.authx.rotateRefreshToken(rot.authx.verifyToken(rot.createAccessToken('a'))), { code: 'FST_AUTHX_REFRESH_TOKEN_REQUIRED' })
  const fresh = rot.createRefreshToken('a')
  const pair = await rot.authx.rotateRefreshToken(rot.authx.verifyToken(fresh))
  t.ok(payloadOf(pair.refresh_token).fam, 'a refresh token without a family starts one')
  await rot.close()
})
