import t from 'tap'
import Fastify from 'fastify'
import fastifyCookie from '@fastify/cookie'
import authx, { type AuthxOptions } from '../lib/index'
import { SECRET, build, payloadOf } from './helpers/app'

const cookieOptions: AuthxOptions = { secret: SECRET, tokenLocation: ['cookies'] }

/** Parses Set-Cookie lines into name → { value, attributes }. */
function cookies (header: string | string[] | undefined) {
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [header]
  const out: Record<string, { value: string, attrs: Record<string, string | true> }> = {}
  for (const line of lines) {
    const [pair, ...rest] = line.split(/;\s*/)
    const eq = pair.indexOf('=')
    const attrs: Record<string, string | true> = {}
    for (const a of rest) {
      const i = a.indexOf('=')
      attrs[(i === -1 ? a : a.slice(0, i)).toLowerCase()] = i === -1 ? true : a.slice(i + 1)
    }
    out[pair.slice(0, eq)] = { value: pair.slice(eq + 1), attrs }
  }
  return out
}

async function loginApp (options: AuthxOptions, cookieCall?: Record<string, unknown>) {
  return await build(options, app => {
    app.post('/login', async (_req, reply) => {
      const pair = app.createTokenPair('alice', { fresh: true })
      reply.setAccessCookies(pair.access_token, cookieCall as any).setRefreshCookies(pair.refresh_token, cookieCall as any)
      return { ok: true }
    })
    app.post('/logout', async (_req, reply) => { reply.unsetCookies(); return { ok: true } })
    app.post('/logout-access', async (_req, reply) => { reply.unsetAccessCookies(); return { ok: true } })
    app.post('/logout-refresh', async (_req, reply) => { reply.unsetRefreshCookies(); return { ok: true } })
  })
}

t.test('secure defaults for the JWT and CSRF cookies', async t => {
  const app = await loginApp(cookieOptions)
  const res = await app.inject({ method: 'POST', url: '/login' })
  t.equal(res.headers['cache-control'], 'no-store', 'responses that set token cookies are not cached')
  const c = cookies(res.headers['set-cookie'])
  t.same(Object.keys(c).sort(), ['access_token_cookie', 'csrf_access_token', 'csrf_refresh_token', 'refresh_token_cookie'])
  for (const name of ['access_token_cookie', 'refresh_token_cookie']) {
    t.equal(c[name].attrs.httponly, true, `${name} HttpOnly`)
    t.equal(c[name].attrs.secure, true, `${name} Secure`)
    t.equal(c[name].attrs.samesite, 'Lax', `${name} SameSite=Lax`)
    t.equal(c[name].attrs.path, '/', `${name} Path=/`)
    t.notOk('max-age' in c[name].attrs, `${name} is a session cookie`)
    t.notOk('domain' in c[name].attrs, `${name} has no Domain`)
  }
  for (const name of ['csrf_access_token', 'csrf_refresh_token']) {
    t.notOk('httponly' in c[name].attrs, `${name} is readable by the page`)
    t.equal(c[name].attrs.secure, true)
    t.equal(c[name].attrs.samesite, 'Lax')
    t.equal(c[name].attrs.path, '/')
  }
  t.equal(c.csrf_access_token.value, payloadOf(c.access_token_cookie.value).csrf, 'the CSRF cookie holds the access token\'s csrf claim')
  t.equal(c.csrf_refresh_token.value, payloadOf(c.refresh_token_cookie.value).csrf)
  await app.close()
})

t.test('every cookie option', async t => {
  const app = await loginApp({
    ...cookieOptions,
    cookies: { accessName: 'at', refreshName: 'rt', accessPath: '/api', refreshPath: '/auth/refresh', domain: 'example.com', secure: false, sameSite: 'strict', httpOnly: true, maxAge: '1h' },
    csrf: { accessCookieName: 'xa', refreshCookieName: 'xr', accessCookiePath: '/', refreshCookiePath: '/auth' }
  })
  const c = cookies((await app.inject({ method: 'POST', url: '/login' })).headers['set-cookie'])
  t.equal(c.at.attrs.path, '/api')
  t.equal(c.rt.attrs.path, '/auth/refresh')
  t.equal(c.xa.attrs.path, '/')
  t.equal(c.xr.attrs.path, '/auth')
  for (const name of ['at', 'rt', 'xa', 'xr']) {
    t.equal(c[name].attrs.domain, 'example.com', `${name} Domain`)
    t.notOk('secure' in c[name].attrs, `${name} secure: false`)
    t.equal(c[name].attrs.samesite, 'Strict', `${name} SameSite`)
    t.equal(c[name].attrs['max-age'], '3600', `${name} Max-Age from cookies.maxAge`)
  }
  await app.close()

  const perCall = await loginApp(cookieOptions, { maxAge: 60 })
  const c2 = cookies((await perCall.inject({ method: 'POST', url: '/login' })).headers['set-cookie'])
  t.equal(c2.access_token_cookie.attrs['max-age'], '60', 'maxAge per call')
  await perCall.close()

  const sameSiteNone = await loginApp({ ...cookieOptions, cookies: { sameSite: 'none' } })
  const c3 = cookies((await sameSiteNone.inject({ method: 'POST', url: '/login' })).headers['set-cookie'])
  t.equal(c3.access_token_cookie.attrs.samesite, 'None')
  t.equal(c3.access_token_cookie.attrs.secure, true)
  await sameSiteNone.close()
})

t.test('no CSRF cookies when CSRF is off or not kept in cookies', async t => {
  for (const csrf of [{ protect: false }, { inCookies: false }]) {
    const app = await loginApp({ ...cookieOptions, csrf })
    const c = cookies((await app.inject({ method: 'POST', url: '/login' })).headers['set-cookie'])
    t.same(Object.keys(c).sort(), ['access_token_cookie', 'refresh_token_cookie'], JSON.stringify(csrf))
    await app.close()
  }
})

t.test('unset helpers clear the JWT and CSRF cookies with the same path and domain', async t => {
  const app = await loginApp({ ...cookieOptions, cookies: { domain: 'example.com', refreshPath: '/auth' } })
  let c = cookies((await app.inject({ method: 'POST', url: '/logout' })).headers['set-cookie'])
  t.same(Object.keys(c).sort(), ['access_token_cookie', 'csrf_access_token', 'csrf_refresh_token', 'refresh_token_cookie'])
  for (const [name, v] of Object.entries(c)) {
    t.equal(v.value, '', `${name} emptied`)
    t.equal(v.attrs['max-age'], '0', `${name} Max-Age=0`)
    t.match(String(v.attrs.expires), /1970/, `${name} expired`)
    t.equal(v.attrs.domain, 'example.com')
  }
  t.equal(c.refresh_token_cookie.attrs.path, '/auth')
  c = cookies((await app.inject({ method: 'POST', url: '/logout-access' })).headers['set-cookie'])
  t.same(Object.keys(c).sort(), ['access_token_cookie', 'csrf_access_token'])
  c = cookies((await app.inject({ method: 'POST', url: '/logout-refresh' })).headers['set-cookie'])
  t.same(Object.keys(c).sort(), ['csrf_refresh_token', 'refresh_token_cookie'])
  await app.close()
})

t.test('@fastify/cookie: registered when missing, reused when present', async t => {
  const app = Fastify()
  await app.register(fastifyCookie, { secret: 'cookie-signing-secret' })
  await app.register(authx, cookieOptions)
  app.get('/', async (_req, reply) => { reply.setCookie('signed', 'v', { signed: true }); return 'ok' })
  await app.ready()
  t.match(String((await app.inject({ url: '/' })).headers['set-cookie']), /signed=v\./, 'the app\'s own cookie plugin (with its secret) is kept')
  await app.close()
  const bare = Fastify()
  await bare.register(authx, cookieOptions)
  await bare.ready()
  t.ok(bare.hasReplyDecorator('setCookie'), 'registered by the plugin')
  await bare.close()
})
