import fastifyAuth from '@fastify/auth'
import swagger from '@fastify/swagger'
import Fastify from 'fastify'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import WebSocket from 'ws'
import { build as buildAuth } from '../examples/recipes/auth'
import { build as buildCors } from '../examples/recipes/cors'
import { build as buildRateLimit } from '../examples/recipes/rate-limit'
import { build as buildWebsocket } from '../examples/recipes/websocket'
import authx from '../lib/index'
import { SECRET, bearer } from './helpers/app'

// The README's recipes (examples/recipes/*.ts, shown verbatim in the README), driven as users drive them.

t.test('the README shows each recipe as the tested file has it', async t => {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8')
  for (const name of ['rate-limit', 'websocket', 'auth', 'cors']) {
    const source = readFileSync(join(__dirname, '..', 'examples', 'recipes', `${name}.ts`), 'utf8')
    const region = source.slice(source.indexOf('// readme:start\n') + 16, source.indexOf('  // readme:end'))
    const snippet = region.split('\n').map(line => line.slice(2)).join('\n').trimEnd()
    t.ok(snippet.length > 100, `${name}: a region is marked`)
    t.ok(readme.includes(snippet), `${name}: the README holds the region verbatim`)
  }
})

t.test('rate limit: rejected tokens count, /login and /refresh by IP, authenticated routes by subject', async t => {
  const app = await buildRateLimit(SECRET, 3)
  t.teardown(() => app.close())
  const from = (ip: string) => ({ remoteAddress: ip })

  const logins = []
  for (let i = 0; i < 4; i++) logins.push((await app.inject({ method: 'POST', url: '/login', payload: { username: 'test', password: 'nope' }, ...from('10.0.0.1') })).statusCode)
  t.same(logins, [401, 401, 401, 429], '/login: bad passwords, then 429')
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { username: 'test', password: 'test' }, ...from('10.0.0.2') })).statusCode, 200, 'another IP is not limited')

  const refreshes = []
  for (let i = 0; i < 4; i++) refreshes.push((await app.inject({ method: 'POST', url: '/refresh', headers: bearer('not.a.token'), ...from('10.0.0.3') })).statusCode)
  t.same(refreshes, [401, 401, 401, 429], '/refresh: bad refresh tokens are counted, then 429')

  const orders = []
  for (let i = 0; i < 4; i++) orders.push((await app.inject({ url: '/orders', headers: bearer('bad.token.here'), ...from('10.0.0.4') })).statusCode)
  t.same(orders, [401, 401, 401, 429], '/orders: bad access tokens are counted by IP, then 429')

  const alice = bearer(app.createAccessToken('alice'))
  t.equal((await app.inject({ url: '/orders', headers: alice, ...from('10.0.0.4') })).statusCode, 200, 'a valid token from the same IP has its own (subject) budget')
  const more = []
  for (let i = 0; i < 3; i++) more.push((await app.inject({ url: '/orders', headers: alice, ...from(`10.0.1.${i}`) })).statusCode)
  t.same(more, [200, 200, 429], 'keyed by subject: changing IP does not reset it')
  const limited = await app.inject({ url: '/orders', headers: alice, ...from('10.0.2.1') })
  t.equal(limited.json().statusCode, 429)
  t.ok(limited.headers['retry-after'], 'with Retry-After')
  t.equal((await app.inject({ url: '/orders', headers: bearer(app.createAccessToken('bob')), ...from('10.0.0.4') })).statusCode, 200, 'another subject is not limited')
})

t.test('websocket: a token in the query string; refused at the handshake without one', async t => {
  const app = await buildWebsocket(SECRET)
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const { port } = app.server.address() as { port: number }
  const base = `ws://127.0.0.1:${port}/live`

  const refused = async (url: string): Promise<{ status: number, code: string }> => await new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.on('open', () => { ws.close(); reject(new Error('the socket opened')) })
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, code: JSON.parse(body).code }) })
    })
    ws.on('error', () => {})
  })
  t.same(await refused(base), { status: 401, code: 'FST_AUTHX_MISSING_TOKEN' }, 'no token: 401, no socket')
  t.same(await refused(`${base}?token=forged.token.value`), { status: 401, code: 'FST_AUTHX_INVALID_TOKEN' }, 'a bad token: 401')
  t.same(await refused(`${base}?token=${app.createRefreshToken('alice')}`), { status: 401, code: 'FST_AUTHX_ACCESS_TOKEN_REQUIRED' }, 'a refresh token: 401')

  const ws = new WebSocket(`${base}?token=${app.createAccessToken('alice')}`)
  const messages: string[] = []
  await new Promise<void>((resolve, reject) => {
    ws.on('message', data => {
      messages.push(data.toString())
      if (messages.length === 1) ws.send('ping')
      if (messages.length === 2) resolve()
    })
    ws.on('error', reject)
  })
  ws.close()
  t.same(messages, [JSON.stringify({ hello: 'alice' }), 'alice: ping'], 'a valid access token opens the socket; the handler sees the subject')
})

t.test('@fastify/auth: a guard or an API key', async t => {
  const app = await buildAuth(SECRET, new Set(['service-key-1']))
  t.teardown(() => app.close())
  const user = await app.inject({ url: '/reports', headers: bearer(app.createAccessToken('alice')) })
  t.same([user.statusCode, user.json()], [200, { by: 'alice' }], 'an access token passes')
  const service = await app.inject({ url: '/reports', headers: { 'x-api-key': 'service-key-1' } })
  t.same([service.statusCode, service.json()], [200, { by: 'service' }], 'an API key passes')
  const neither = await app.inject({ url: '/reports', headers: { 'x-api-key': 'wrong' } })
  t.equal(neither.statusCode, 401, 'neither: 401')
  const refresh = await app.inject({ url: '/reports', headers: bearer(app.createRefreshToken('alice')) })
  t.equal(refresh.statusCode, 401, 'a refresh token is no access token')
})

t.test('@fastify/auth: the route is documented as secured through config.authxGuard', async t => {
  const app = Fastify()
  await app.register(swagger, { openapi: { info: { title: 't', version: '1' } } })
  await app.register(authx, { secret: SECRET })
  await app.register(fastifyAuth)
  app.get('/reports', { preHandler: app.auth([app.requireAccess]), config: { authxGuard: app.requireAccess } }, async () => 'ok')
  app.get('/hidden', { preHandler: app.auth([app.requireAccess]) }, async () => 'ok')
  await app.ready()
  t.teardown(() => app.close())
  const doc = app.swagger() as any
  t.same(doc.paths['/reports'].get.security, [{ accessToken: [] }])
  t.notOk(doc.paths['/hidden'].get.security, 'without it, @fastify/auth hides the guard')
})

t.test('cors: preflight answered by @fastify/cors; CORS headers on 200 and 401 alike', async t => {
  const app = await buildCors(SECRET)
  t.teardown(() => app.close())
  const origin = 'https://app.example.com'
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/api/orders',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' }
  })
  t.equal(preflight.statusCode, 204, 'preflight: 204, no token needed')
  t.equal(preflight.headers['access-control-allow-origin'], origin)
  t.match(preflight.headers['access-control-allow-headers'], /Authorization/)
  t.match(preflight.headers['access-control-allow-methods'], /POST/)
  t.equal(preflight.headers['access-control-max-age'], '600')
  t.equal(preflight.body, '')

  const ok = await app.inject({ url: '/api/orders', headers: { origin, ...bearer(app.createAccessToken('alice')) } })
  t.equal(ok.statusCode, 200)
  t.equal(ok.headers['access-control-allow-origin'], origin)
  t.same(ok.json(), { orders: [], for: 'alice' })

  const denied = await app.inject({ method: 'POST', url: '/api/orders', headers: { origin } })
  t.equal(denied.statusCode, 401, 'the real request still needs a token')
  t.equal(denied.json().code, 'FST_AUTHX_MISSING_TOKEN')
  t.equal(denied.headers['access-control-allow-origin'], origin, 'the 401 carries CORS headers: the page can read it')
  t.equal(denied.headers['access-control-expose-headers'], 'WWW-Authenticate', 'and its challenge')

  const stranger = await app.inject({ url: '/api/orders', headers: { origin: 'https://evil.example', ...bearer(app.createAccessToken('alice')) } })
  t.notOk(stranger.headers['access-control-allow-origin'], 'another origin gets no CORS grant')
})
