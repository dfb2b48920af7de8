import t from 'tap'
import { SECRET, bearer, build, type FastifyInstance } from './helpers/app'

const all = { secret: SECRET, tokenLocation: ['headers', 'cookies', 'query', 'json'] as Array<'headers' | 'cookies' | 'query' | 'json'> }
const cookie = (name: string, value: string) => ({ cookie: `${name}=${value}` })
// The JSON body is parsed after onRequest: these routes guard at preValidation.
const jsonRoutes = (app: FastifyInstance) => {
  app.post('/json/access', { preValidation: app.requireAccess }, async req => ({ payload: req.tokenPayload, location: req.tokenLocation }))
  app.post('/json/refresh', { preValidation: app.requireRefresh }, async req => ({ payload: req.tokenPayload, location: req.tokenLocation }))
}

t.test('each location, with the names of the type the route asks for', async t => {
  const app = await build(all, jsonRoutes)
  const access = app.createAccessToken('a')
  const refresh = app.createRefreshToken('a')
  const cases: Array<[string, Record<string, any>, string]> = [
    ['header', { url: '/access', headers: bearer(access) }, 'headers'],
    ['access cookie', { url: '/access', headers: cookie('access_token_cookie', access) }, 'cookies'],
    ['refresh cookie', { url: '/refresh', headers: cookie('refresh_token_cookie', refresh) }, 'cookies'],
    ['query', { url: `/access?token=${access}` }, 'query'],
    ['query, refresh route', { url: `/refresh?token=${refresh}` }, 'query'],
    ['json access_token', { method: 'POST', url: '/json/access', payload: { access_token: access } }, 'json'],
    ['json refresh_token', { method: 'POST', url: '/json/refresh', payload: { refresh_token: refresh } }, 'json']
  ]
  for (const [name, request, location] of cases) {
    const res = await app.inject(request)
    t.equal(res.statusCode, 200, name)
    t.equal(res.json().location, location, name)
  }
  await app.close()
})

t.test('a refresh route demands a refresh token in every location (AuthX lets query access tokens through)', async t => {
  const app = await build(all, jsonRoutes)
  const access = app.createAccessToken('a')
  const refresh = app.createRefreshToken('a')
  const wrong: Array<[string, Record<string, any>, string]> = [
    ['query access on refresh route', { url: `/refresh?token=${access}` }, 'FST_AUTHX_REFRESH_TOKEN_REQUIRED'],
    ['query refresh on access route', { url: `/access?token=${refresh}` }, 'FST_AUTHX_ACCESS_TOKEN_REQUIRED'],
    ['access token in the refresh cookie', { url: '/refresh', headers: cookie('refresh_token_cookie', access) }, 'FST_AUTHX_REFRESH_TOKEN_REQUIRED'],
    ['refresh token in the access cookie', { url: '/access', headers: cookie('access_token_cookie', refresh) }, 'FST_AUTHX_ACCESS_TOKEN_REQUIRED'],
    ['access token under refresh_token', { method: 'POST', url: '/json/refresh', payload: { refresh_token: access } }, 'FST_AUTHX_REFRESH_TOKEN_REQUIRED']
  ]
  for (const [name, request, code] of wrong) {
    const res = await app.inject(request)
    t.equal(res.statusCode, 401, name)
    t.equal(res.json().code, code, name)
  }
  t.equal((await app.inject({ url: '/refresh', headers: cookie('access_token_cookie', refresh) })).json().code, 'FST_AUTHX_MISSING_TOKEN', 'a refresh route does not read the access cookie')
  t.equal((await app.inject({ method: 'POST', url: '/json/access', payload: { refresh_token: access } })).json().code, 'FST_AUTHX_MISSING_TOKEN', 'an access route does not read refresh_token')
  await app.close()
})

t.test('precedence: the first location holding a token wins; an invalid one does not fall through', async t => {
  const app = await build({ ...all, tokenLocation: ['cookies', 'headers', 'query'] })
  const good = app.createAccessToken('good')
  const other = app.createAccessToken('other')
  let res = await app.inject({ url: `/access?token=${other}`, headers: { ...cookie('access_token_cookie', good), ...bearer(other) } })
  t.equal(res.json().location, 'cookies', 'configured order: cookies first')
  t.equal(res.json().payload.sub, 'good')
  res = await app.inject({ url: `/access?token=${good}`, headers: bearer('not.a.jwt') })
  t.equal(res.json().code, 'FST_AUTHX_INVALID_TOKEN', 'an invalid header token is final')
  res = await app.inject({ url: `/access?token=${good}`, headers: { authorization: 'Basic dTpw' } })
  t.equal(res.json().location, 'query', 'another scheme holds no token: the lookup goes on')
  res = await app.inject({ url: `/access?token=${good}`, headers: cookie('access_token_cookie', '') })
  t.equal(res.json().location, 'query', 'an empty cookie holds no token')
  await app.close()
})

t.test('locations not configured are never read; the per-route override', async t => {
  const app = await build({ secret: SECRET }, app => {
    app.get('/q', { onRequest: app.authx.guard({ locations: ['query'] }) }, async req => req.tokenLocation)
  })
  const token = app.createAccessToken('a')
  t.equal((await app.inject({ url: `/access?token=${token}` })).json().code, 'FST_AUTHX_MISSING_TOKEN', 'query is off by default')
  t.equal((await app.inject({ url: '/access', headers: cookie('access_token_cookie', token) })).json().code, 'FST_AUTHX_MISSING_TOKEN', 'cookies are off by default')
  t.equal((await app.inject({ url: `/q?token=${token}` })).body, 'query', 'locations override per route')
  t.equal((await app.inject({ url: '/q', headers: bearer(token) })).json().code, 'FST_AUTHX_MISSING_TOKEN', 'and only those')
  await app.close()
})

t.test('custom names', async t => {
  const app = await build({
    secret: SECRET,
    tokenLocation: ['cookies', 'query', 'json'],
    query: { name: 'jwt' },
    json: { accessKey: 'at', refreshKey: 'rt' },
    cookies: { accessName: 'sid', refreshName: 'rid' }
  }, jsonRoutes)
  const access = app.createAccessToken('a')
  const refresh = app.createRefreshToken('a')
  t.equal((await app.inject({ url: `/access?jwt=${access}` })).statusCode, 200)
  t.equal((await app.inject({ url: '/access', headers: cookie('sid', access) })).statusCode, 200)
  t.equal((await app.inject({ url: '/refresh', headers: cookie('rid', refresh) })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/json/refresh', payload: { rt: refresh } })).statusCode, 200)
  await app.close()
})

t.test('query and JSON values that are not one string are invalid, not a crash', async t => {
  const app = await build(all, jsonRoutes)
  const token = app.createAccessToken('a')
  let res = await app.inject({ url: `/access?token=${token}&token=${token}` })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'FST_AUTHX_INVALID_TOKEN', 'repeated query keys')
  for (const value of [42, ['x'], { a: 1 }, true, null]) {
    res = await app.inject({ method: 'POST', url: '/json/refresh', payload: { refresh_token: value } })
    t.ok(res.statusCode === 401, `json ${JSON.stringify(value)}: 401`)
  }
  res = await app.inject({ method: 'POST', url: '/json/refresh', payload: [app.createRefreshToken('a')] })
  t.equal(res.json().code, 'FST_AUTHX_MISSING_TOKEN', 'a JSON array body holds no token')
  await app.close()
})

t.test('JSON body: content types, and the message for a guard at onRequest', async t => {
  const app = await build({ secret: SECRET, tokenLocation: ['json'] }, app => {
    app.post('/early', { onRequest: app.requireAccess }, async () => 'ok')
    app.post('/late', { preValidation: app.requireAccess }, async req => req.tokenLocation)
    app.post('/handler', { preHandler: app.requireAccess }, async req => req.tokenLocation)
    app.addContentTypeParser('application/vnd.api+json', { parseAs: 'string' }, (_req, body, done) => { done(null, JSON.parse(body as string)) })
  })
  const token = app.createAccessToken('a')
  const body = JSON.stringify({ access_token: token })
  for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset=UTF-8', 'application/vnd.api+json']) {
    t.equal((await app.inject({ method: 'POST', url: '/late', payload: body, headers: { 'content-type': type } })).body, 'json', type)
  }
  t.equal((await app.inject({ method: 'POST', url: '/handler', payload: body, headers: { 'content-type': 'application/json' } })).body, 'json', 'preHandler')
  t.equal((await app.inject({ method: 'POST', url: '/late', payload: `access_token=${token}`, headers: { 'content-type': 'text/plain' } })).statusCode, 401, 'a non-JSON body is not read')
  const res = await app.inject({ method: 'POST', url: '/early', payload: body, headers: { 'content-type': 'application/json' } })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'FST_AUTHX_MISSING_TOKEN')
  t.match(res.json().message, /preValidation or preHandler/, 'the message says where to move the guard')
  const empty = await app.inject({ method: 'POST', url: '/early' })
  t.notMatch(empty.json().message, /preValidation/, 'no body: the plain missing-token message')
  await app.close()
})

t.test('a cookie route on a header-only app reads the cookie itself (no parsing hook on every request)', async t => {
  const app = await build({ secret: SECRET }, app => {
    app.get('/c', { onRequest: app.authx.guard({ locations: ['cookies'] }) }, async req => req.tokenLocation)
    app.get('/jar', async req => ({ cookies: req.cookies ?? null }))
  })
  const token = app.createAccessToken('a')
  t.equal((await app.inject({ url: '/c', headers: cookie('access_token_cookie', token) })).body, 'cookies')
  t.equal((await app.inject({ url: '/c', headers: { cookie: 'other=1' } })).json().code, 'FST_AUTHX_MISSING_TOKEN')
  t.equal((await app.inject({ url: '/c' })).json().code, 'FST_AUTHX_MISSING_TOKEN')
  t.same((await app.inject({ url: '/jar', headers: cookie('x', '1') })).json(), { cookies: null }, 'the plugin registered @fastify/cookie without its parsing hook')
  await app.close()
})
