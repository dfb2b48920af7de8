/**
 * Attack class 12: implicit (cookie) refresh.
 * Sources: README "Implicit refresh" ("It never triggers on a response of status 400 or more, when the
 * handler set or unset the access cookie"; a revoked token is skipped); flask-jwt-extended #454
 * (refresh over logout); OWASP Session Management cheat sheet ("Session expiration",
 * "renewal must not resurrect a terminated session"); RFC 8725 §3.1 (verify before use).
 */
import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { SECRET, b64, claims, hs, harness, type Harness } from './helpers'
import { never, storeWith } from '../helpers/stores'

const now = () => Math.floor(Date.now() / 1000)
const WRONG = 'wrong-secret-wrong-secret-wrong-secret!!'

async function irApp (): Promise<Harness> {
  return await harness({ secret: SECRET, tokenLocation: ['cookies', 'headers'], accessTokenExpires: 300, implicitRefresh: { deltaTime: 600 } }, {
    setup (app, hit) {
      app.get('/page', async () => { hit(); return { page: true } })
      app.get('/guarded', { onRequest: app.requireAccess }, async () => { hit(); return { ok: true } })
      app.get('/admin', { onRequest: app.authx.guard({ scopes: ['admin'] }) }, async () => { hit(); return { ok: true } })
      app.get('/bad-request', async (_req, reply) => { hit(); reply.code(400); return { error: 'nope' } })
      app.get('/forbidden', async (_req, reply) => { hit(); reply.code(403); return { error: 'nope' } })
      app.get('/boom', async () => { hit(); throw new Error('handler failure') })
      app.get('/unavailable', async (_req, reply) => { hit(); reply.code(503); return {} })
      app.post('/logout', { onRequest: app.requireAccess }, async (_req, reply) => { hit(); reply.unsetCookies(); return { bye: true } })
      app.post('/logout-unguarded', async (_req, reply) => { hit(); reply.unsetAccessCookies(); return { bye: true } })
      app.post('/login-as-other', async (_req, reply) => { hit(); reply.setAccessCookies(app.createAccessToken('other')); return {} })
    }
  })
}

const cookiesOf = (res: LightMyRequestResponse) => ([] as string[]).concat(res.headers['set-cookie'] ?? [])
const newAccessCookie = (res: LightMyRequestResponse) => cookiesOf(res).map(c => /^access_token_cookie=([^;]*)/.exec(c)?.[1]).find(v => v !== undefined && v !== '')

function noRefresh (t: Test, res: LightMyRequestResponse, label: string, secret?: string[], allow5xx = false) {
  t.equal(newAccessCookie(res), undefined, `${label}: no new access cookie`)
  t.notOk(cookiesOf(res).some(c => c.startsWith('csrf_access_token=') && !/Expires=Thu, 01 Jan 1970/.test(c)), `${label}: no new CSRF cookie`)
  t.ok(res.statusCode < 500 || allow5xx, `${label}: ${res.statusCode}`)
  for (const s of secret ?? []) t.notOk(res.body.includes(s) || JSON.stringify(res.headers).includes(s), `${label}: leaks nothing`)
}

t.test('positive control: a valid access cookie near expiry is refreshed, not fresh, same subject', async t => {
  const h = await irApp()
  const token = h.app.createAccessToken('alice', { fresh: true, data: { role: 'r' } })
  for (const url of ['/page', '/guarded']) {
    const res = await h.app.inject({ url, headers: { cookie: `access_token_cookie=${token}` } })
    t.equal(res.statusCode, 200)
    const fresh = newAccessCookie(res) as string
    t.ok(fresh, `${url}: refreshed`)
    const p = h.app.authx.verifyToken(fresh)
    t.equal(p.sub, 'alice')
    t.equal(p.fresh, false, 'freshness is never extended')
    t.not(p.jti, h.app.authx.verifyToken(token).jti)
    t.equal(res.headers['cache-control'], 'no-store')
  }
  await h.close()
})

t.test('never from an expired, forged, revoked or wrong-type cookie (README "Implicit refresh", RFC 8725 §3.1)', async t => {
  const h = await irApp()
  const revoked = h.app.createAccessToken('alice')
  await h.app.authx.revokeToken(revoked)
  const pair = h.app.createTokenPair('bob')
  await h.app.authx.revokeFamily(h.app.authx.verifyToken(pair.refresh_token))
  const allOut = h.app.createAccessToken('carol')
  await h.app.authx.revokeAllSessions('carol')
  const bad: Array<[string, string]> = [
    ['expired', hs(claims({ exp: now() - 5, iat: now() - 400 }))],
    ['expired by a second', hs(claims({ exp: now() - 1 }))],
    ['forged signature', hs(claims(), undefined, WRONG)],
    ['alg none', `${b64({ alg: 'none' })}.${b64(claims())}.`],
    ['revoked by jti', revoked],
    ['revoked family', pair.access_token],
    ['revoked subject', allOut],
    ['a refresh token in the access cookie', hs(claims({ type: 'refresh' }))],
    ['no type', hs(claims({ type: undefined }))],
    ['nbf in the future', hs(claims({ nbf: now() + 100 }))],
    ['garbage', 'not-a-token'],
    ['truncated', h.app.createAccessToken('x').slice(0, -5)]
  ]
  for (const [what, token] of bad) {
    for (const url of ['/page', '/guarded']) {
      const before = h.handler.calls
      const res = await h.app.inject({ url, headers: { cookie: `access_token_cookie=${token}` } })
      noRefresh(t, res, `${what} on ${url}`, [token])
      if (url === '/guarded') {
        t.ok(res.statusCode === 401, `${what} on ${url}: 401`)
        t.equal(h.handler.calls, before, 'the handler did not run')
      }
    }
  }
  await h.close()
})

t.test('never on 4xx or 5xx responses (README "Implicit refresh")', async t => {
  const h = await irApp()
  const token = h.app.createAccessToken('alice')
  const cookie = `access_token_cookie=${token}`
  for (const url of ['/bad-request', '/forbidden', '/boom', '/unavailable', '/admin', '/does-not-exist']) {
    const res = await h.app.inject({ url, headers: { cookie } })
    t.ok(res.statusCode >= 400, `${url}: ${res.statusCode}`)
    noRefresh(t, res, url, [token], true)
    t.notOk(res.body.includes('    at '), `${url}: no stack trace in the answer`)
  }
  // a POST without CSRF is refused by the guard: no refresh on that 401 either
  const res = await h.app.inject({ method: 'POST', url: '/logout', headers: { cookie } })
  t.equal(res.statusCode, 401)
  noRefresh(t, res, 'logout without CSRF', [token])
  await h.close()
})

t.test('never over logout or a cookie the handler set itself (flask-jwt-extended #454)', async t => {
  const h = await irApp()
  const token = h.app.createAccessToken('alice')
  const csrf = h.app.authx.getCsrfToken(token) as string
  const cookie = `access_token_cookie=${token}; csrf_access_token=${csrf}`
  for (const url of ['/logout', '/logout-unguarded']) {
    const res = await h.app.inject({ method: 'POST', url, headers: { cookie, 'x-csrf-token': csrf } })
    t.equal(res.statusCode, 200, url)
    noRefresh(t, res, url)
    t.ok(cookiesOf(res).some(c => /^access_token_cookie=;/.test(c)), `${url}: the access cookie is cleared`)
  }
  const res = await h.app.inject({ method: 'POST', url: '/login-as-other', headers: { cookie } })
  const set = cookiesOf(res).filter(c => c.startsWith('access_token_cookie='))
  t.equal(set.length, 1, 'exactly the cookie the handler set')
  t.equal(h.app.authx.verifyToken(newAccessCookie(res) as string).sub, 'other', 'and not a refresh of the request\'s cookie')
  await h.close()
})

t.test('never from a token that came from elsewhere than the access cookie', async t => {
  const h = await irApp()
  const token = h.app.createAccessToken('alice')
  const res = await h.app.inject({ url: '/guarded', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 200)
  noRefresh(t, res, 'header token')
  // a valid header token and a forged access cookie on an unguarded page
  const forged = hs(claims({ sub: 'mallory' }), undefined, WRONG)
  const mixed = await h.app.inject({ url: '/page', headers: { authorization: `Bearer ${token}`, cookie: `access_token_cookie=${forged}` } })
  noRefresh(t, mixed, 'forged cookie next to a valid header', [forged])
  // the refresh cookie does not feed the access refresh
  const refresh = h.app.createRefreshToken('alice')
  noRefresh(t, await h.app.inject({ url: '/page', headers: { cookie: `refresh_token_cookie=${refresh}` } }), 'refresh cookie only')
  await h.close()
})

t.test('a store that fails or hangs means no refresh, and an unguarded page still answers (fail closed)', async t => {
  const hanging = storeWith('Hanging', ['status', 'redeem'], never)
  const failing = storeWith('Failing', ['status', 'redeem'], async () => { throw new Error('ECONNRESET store-driver-canary') })
  for (const store of [hanging, failing]) {
    const h = await harness({ secret: SECRET, tokenLocation: ['cookies'], accessTokenExpires: 300, implicitRefresh: true, store, storeTimeout: 50 }, {
      setup (app) { app.get('/page', async () => ({ page: true })) }
    })
    const token = h.app.createAccessToken('alice')
    const res = await h.app.inject({ url: '/page', headers: { cookie: `access_token_cookie=${token}` } })
    t.equal(res.statusCode, 200, `${store.constructor.name}: the unguarded page answers`)
    noRefresh(t, res, store.constructor.name, ['store-driver-canary'])
    const guarded = await h.app.inject({ url: '/access', headers: { cookie: `access_token_cookie=${token}` } })
    t.equal(guarded.statusCode, 503, `${store.constructor.name}: a guarded route fails closed`)
    noRefresh(t, guarded, `${store.constructor.name} guarded`, ['store-driver-canary'], true)
    await h.close()
  }
})
