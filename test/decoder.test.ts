import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import t from 'tap'
import authx, { type AuthxOptions } from '../lib/index'
import { SECRET, build, hs256, keyPair, payloadOf, testClock } from './helpers/app'

// lib/decoder.ts: the reply helpers read the `csrf` claim of the token they are given, without verifying
// it (it is the app's own token, just made or verified), to pair the readable CSRF cookie with it.

async function cookieApp (options: AuthxOptions): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(authx, { tokenLocation: ['cookies'], ...options } as AuthxOptions)
  app.post('/set', async (request, reply) => {
    const { access, refresh } = request.body as { access?: string, refresh?: string }
    if (access !== undefined) reply.setAccessCookies(access)
    if (refresh !== undefined) reply.setRefreshCookies(refresh)
    return {}
  })
  await app.ready()
  return app
}

/** The cookies a response sets, by name (value only). */
function cookies (res: LightMyRequestResponse): Record<string, string> {
  return Object.fromEntries(res.cookies.map(c => [c.name, c.value]))
}

t.test('the CSRF cookie holds the csrf claim of the token given, read without verifying it', async t => {
  const clock = testClock()
  const app = await cookieApp({ secret: SECRET, now: clock.now })
  const other = await cookieApp({ secret: 'another-instance-secret-another-instance!' })
  const mine = app.createTokenPair('alice')
  const short = app.createAccessToken('alice', { expiresIn: 1 })
  clock.advance(2000)
  for (const [what, access, refresh] of [
    ['a pair of this instance', mine.access_token, mine.refresh_token],
    ['an expired token (decoding does not check exp)', short, undefined],
    ['another instance\'s tokens (decoding does not check the signature)', other.createAccessToken('bob'), other.createRefreshToken('bob')]
  ] as Array<[string, string, string | undefined]>) {
    const res = await app.inject({ method: 'POST', url: '/set', payload: { access, refresh } })
    t.equal(res.statusCode, 200, `${what}: set`)
    const jar = cookies(res)
    t.equal(jar.access_token_cookie, access, `${what}: the access cookie holds the token`)
    t.equal(jar.csrf_access_token, payloadOf(access).csrf, `${what}: the access CSRF cookie holds its csrf claim`)
    if (refresh !== undefined) t.equal(jar.csrf_refresh_token, payloadOf(refresh).csrf, `${what}: the refresh CSRF cookie holds its csrf claim`)
  }
  await app.close(); await other.close()
})

t.test('a token without a csrf claim, or with one that is not a string, gets its cookie and no CSRF cookie', async t => {
  const app = await cookieApp({ secret: SECRET })
  const headerOnly = await build({ secret: SECRET })
  const now = Math.floor(Date.now() / 1000)
  for (const [what, token] of [
    ['minted where cookies are no location (no csrf claim)', headerOnly.createAccessToken('alice')],
    ['a csrf claim that is a number', hs256({ sub: 'a', type: 'access', jti: 'j', iat: now, exp: now + 60, csrf: 42 })],
    ['a csrf claim that is an object', hs256({ sub: 'a', type: 'access', jti: 'j', iat: now, exp: now + 60, csrf: { value: 'x' } })]
  ]) {
    const res = await app.inject({ method: 'POST', url: '/set', payload: { access: token } })
    t.equal(res.statusCode, 200, `${what}: set`)
    t.same(Object.keys(cookies(res)), ['access_token_cookie'], `${what}: the token cookie only`)
  }
  await app.close(); await headerOnly.close()
})

t.test('a jwksUrl instance reads the claim with the JWKS decoder: no key is needed to pair the cookie', async t => {
  const issuer = await build({ algorithm: 'ES256', privateKey: keyPair('ES256').privateKey, tokenLocation: ['cookies'] })
  // Nothing listens on port 9: the verifier starts with no key (its fetch fails), and decoding needs none.
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { logs.push(line) } } } })
  await app.register(authx, { jwksUrl: 'http://127.0.0.1:9/jwks.json', decodeAlgorithms: ['ES256'], tokenLocation: ['cookies'] })
  app.post('/set', async (request, reply) => { reply.setAccessCookies((request.body as { access: string }).access); return {} })
  await app.ready()
  const token = issuer.createAccessToken('alice')
  const res = await app.inject({ method: 'POST', url: '/set', payload: { access: token } })
  t.equal(res.statusCode, 200)
  t.same(cookies(res), { access_token_cookie: token, csrf_access_token: payloadOf(token).csrf }, 'the token cookie and its CSRF cookie')
  await app.close(); await issuer.close()
})

t.test('a malformed token given to the reply helpers is a programming error: FST_AUTHX_BAD_ARGUMENT, and no cookie', async t => {
  // As `reply.setAccessCookies('')` is (README "Errors", FST_AUTHX_BAD_ARGUMENT); every error the plugin
  // throws carries a code of its own table (lib/errors.ts), and a refusal sets no token cookie.
  const app = await cookieApp({ secret: SECRET })
  for (const token of ['not-a-token', 'a.b.c']) {
    const res = await app.inject({ method: 'POST', url: '/set', payload: { access: token } })
    t.equal(res.statusCode, 500, `${token}: a programming error (500), not a client's 401`)
    t.equal(res.json().code, 'FST_AUTHX_BAD_ARGUMENT', `${token}: the plugin's code`)
    t.same(Object.keys(cookies(res)), [], `${token}: no cookie set`)
  }
  await app.close()
})
