import t from 'tap'
import Fastify from 'fastify'
import authx, { type AuthxOptions } from '../lib/index'
import { SECRET, payloadOf, tamperSignature, testClock } from './helpers/app'


/** Set-Cookie values by name. */
function setCookies (header: string | string[] | undefined): Record<string, string> {
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [header]
  return Object.fromEntries(lines.map(l => { const pair = l.split(';')[0]; const i = pair.indexOf('='); return [pair.slice(0, i), pair.slice(i + 1)] }))
}

async function build (extra: Partial<AuthxOptions> = {}) {
  const app = Fastify()
  await app.register(authx, { secret: SECRET, tokenLocation: ['cookies', 'headers'], accessTokenExpires: 60, implicitRefresh: { deltaTime: 30 }, ...extra } as AuthxOptions)
  app.get('/guarded', { onRequest: app.requireAccess }, async () => 'ok')
  app.get('/guarded-unchecked', { onRequest: app.authx.guard({ checkRevoked: false }) }, async () => 'ok')
  app.get('/open', async () => 'ok')
  app.get('/users/:id', async () => 'ok')
  app.post('/open', async () => 'ok')
  app.get('/fail', async (_req, reply) => reply.code(400).send({ bad: true }))
  app.get('/boom', async (_req, reply) => reply.code(500).send({ bad: true }))
  app.get('/logout', async (_req, reply) => { reply.unsetAccessCookies(); return 'bye' })
  app.get('/login', async (_req, reply) => { reply.setAccessCookies(app.createAccessToken('new-user')); return 'hi' })
  await app.ready()
  return app
}

const nearExpiry = (app: Awaited<ReturnType<typeof build>>, options = {}) => app.createAccessToken('alice', { expiresIn: 20, ...options })
const jar = (token: string) => ({ cookie: `access_token_cookie=${token}` })

t.test('a near-expiry access cookie is refreshed on guarded and unguarded routes', async t => {
  const app = await build()
  const pair = app.createTokenPair('alice', { fresh: true, scopes: ['read', 'write'], data: { role: 'admin' }, audience: 'web' })
  const old = payloadOf(pair.access_token)
  const token = app.createAccessToken('alice', { expiresIn: 20, fresh: true, scopes: ['read', 'write'], data: { role: 'admin' }, audience: 'web' })
  for (const url of ['/guarded', '/open', '/users/7']) {
    const res = await app.inject({ url, headers: jar(token) })
    t.equal(res.statusCode, 200, url)
    const c = setCookies(res.headers['set-cookie'])
    t.ok(c.access_token_cookie, `${url}: a new access cookie`)
    t.ok(c.csrf_access_token, `${url}: a new CSRF cookie`)
    t.equal(res.headers['cache-control'], 'no-store')
    const p = payloadOf(c.access_token_cookie)
    t.equal(p.sub, 'alice')
    t.not(p.jti, payloadOf(token).jti, 'new jti')
    t.equal(p.fresh, false, 'never fresh')
    t.same(p.scopes, ['read', 'write'], 'scopes carried')
    t.equal(p.role, 'admin', 'data carried')
    t.equal(p.aud, 'web', 'audience carried')
    t.equal(p.exp - p.iat, 60, 'lifetime from the config')
    t.equal(c.csrf_access_token, p.csrf, 'the CSRF cookie matches the new token')
  }
  t.ok(old.fam, 'pairs have a family')
  const lone = app.createAccessToken('alice', { expiresIn: 20 })
  t.notOk(payloadOf(lone).fam, 'a plain token has no family')
  t.equal(payloadOf(setCookies((await app.inject({ url: '/open', headers: jar(lone) })).headers['set-cookie']).access_token_cookie).fam, payloadOf(lone).jti,
    'what is refreshed from it is in the family named after it (so revoking it ends what was minted from it)')
  await app.close()
})

t.test('the family is kept', async t => {
  const app = await build({ rotation: true })
  const pair = app.createTokenPair('alice')
  const fam = payloadOf(pair.access_token).fam
  const short = app.createTokenPair('alice', { expiresIn: 20 })
  const res = await app.inject({ url: '/guarded', headers: jar(short.access_token) })
  t.equal(payloadOf(setCookies(res.headers['set-cookie']).access_token_cookie).fam, payloadOf(short.access_token).fam)
  t.ok(fam)
  await app.close()
})

t.test('never when …', async t => {
  const clock = testClock()
  const app = await build({ now: clock.now, refreshTokenExpires: false }) // so that an access token may have no exp
  const token = nearExpiry(app)
  const none = async (name: string, request: Record<string, any>) => {
    const res = await app.inject(request)
    t.notOk(setCookies(res.headers['set-cookie']).csrf_access_token, `${name}: no refresh`)
    return res
  }
  await none('far from expiry', { url: '/open', headers: jar(app.createAccessToken('alice', { expiresIn: 59 })) })
  await none('no exp at all', { url: '/open', headers: jar(app.createAccessToken('alice', { expiresIn: false })) })
  await none('status 400', { url: '/fail', headers: jar(token) })
  await none('status 500', { url: '/boom', headers: jar(token) })
  await none('a guard refused (401)', { url: '/guarded', headers: { ...jar(app.createRefreshToken('alice')) } })
  const logout = await app.inject({ url: '/logout', headers: jar(token) })
  t.equal(setCookies(logout.headers['set-cookie']).access_token_cookie, '', 'logout: the handler\'s unset wins')
  const login = await app.inject({ url: '/login', headers: jar(token) })
  t.equal(payloadOf(setCookies(login.headers['set-cookie']).access_token_cookie).sub, 'new-user', 'login: the handler\'s cookie wins')
  await none('token in the header, not the cookie', { url: '/guarded', headers: { authorization: `Bearer ${token}` } })
  await none('a refresh token in the access cookie', { url: '/open', headers: jar(app.createRefreshToken('alice', { expiresIn: 20 })) })
  await none('an invalid cookie', { url: '/open', headers: jar(tamperSignature(token)) })
  await none('a token of another key', { url: '/open', headers: jar((await (async () => { const other = Fastify(); await other.register(authx, { secret: 'another-secret-another-secret-12345' }); return other.createAccessToken('alice', { expiresIn: 20 }) })())) })
  const expired = app.createAccessToken('alice', { expiresIn: 1 })
  clock.advance(1000)
  await none('an expired cookie', { url: '/open', headers: jar(expired) })
  await app.authx.revokeToken(token)
  await none('a revoked cookie (unguarded route)', { url: '/open', headers: jar(token) })
  const revoked = nearExpiry(app)
  await app.authx.revokeToken(revoked)
  await none('a revoked cookie (guard without revocation check)', { url: '/guarded-unchecked', headers: jar(revoked) })
  await app.close()
})

t.test('revokeAllSessions stops implicit refresh', async t => {
  const app = await build()
  const token = nearExpiry(app)
  await app.authx.revokeAllSessions('alice')
  const res = await app.inject({ url: '/open', headers: jar(token) })
  t.notOk(setCookies(res.headers['set-cookie']).access_token_cookie)
  await app.close()
})

t.test('include and exclude: include limits, exclude wins', async t => {
  const cases: Array<[Record<string, string[]>, string, string, boolean]> = [
    [{}, 'GET', '/open', true],
    [{ routeInclude: ['/guarded'] }, 'GET', '/open', false],
    [{ routeInclude: ['/open'] }, 'GET', '/open', true],
    [{ routeInclude: ['/users/:id'] }, 'GET', '/users/7', true],
    [{ routeInclude: ['/users/7'] }, 'GET', '/users/7', true],
    [{ routeExclude: ['/users/:id'] }, 'GET', '/users/7', false],
    [{ routeExclude: ['/open'] }, 'GET', '/open', false],
    [{ routeInclude: ['/open'], routeExclude: ['/open'] }, 'GET', '/open', false],
    [{ methodInclude: ['POST'] }, 'GET', '/open', false],
    [{ methodInclude: ['post'] }, 'POST', '/open', true],
    [{ methodExclude: ['GET'] }, 'GET', '/open', false],
    [{ methodExclude: ['GET'] }, 'POST', '/open', true],
    [{ methodInclude: ['GET'], methodExclude: ['GET'] }, 'GET', '/open', false]
  ]
  for (const [filters, method, url, refreshed] of cases) {
    const app = await build({ implicitRefresh: { deltaTime: 30, ...filters } })
    const res = await app.inject({ method: method as 'GET', url, headers: jar(nearExpiry(app)) })
    t.equal(Boolean(setCookies(res.headers['set-cookie']).access_token_cookie), refreshed, `${JSON.stringify(filters)} ${method} ${url}`)
    await app.close()
  }
})

t.test('implicitRefresh: true uses deltaTime 600', async t => {
  const app = await build({ implicitRefresh: true, accessTokenExpires: 900 })
  const within = app.createAccessToken('alice', { expiresIn: 590 })
  const beyond = app.createAccessToken('alice', { expiresIn: 700 })
  t.ok(setCookies((await app.inject({ url: '/open', headers: jar(within) })).headers['set-cookie']).access_token_cookie)
  t.notOk(setCookies((await app.inject({ url: '/open', headers: jar(beyond) })).headers['set-cookie']).access_token_cookie)
  await app.close()
})
