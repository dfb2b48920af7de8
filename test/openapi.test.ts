import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { Type } from '@sinclair/typebox'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import authx, { AuthErrorSchema, TokenPairSchema, type AuthxOptions } from '../lib/index'
import { SECRET, bearer } from './helpers/app'

// With @fastify/swagger registered (before or after the plugin), guarded routes are documented as
// secured with nothing written by the app; runtime behaviour stays what it was.

type Order = 'before' | 'after' | 'none'
const openapi = { openapi: { openapi: '3.0.3', info: { title: 'test', version: '1.0.0' } } }

async function appWith (order: Order, options: Partial<AuthxOptions> = {}, swaggerOptions: Record<string, unknown> = openapi): Promise<FastifyInstance> {
  const app = Fastify()
  if (order === 'before') await app.register(swagger, swaggerOptions)
  await app.register(authx, { secret: SECRET, ...options })
  if (order === 'after') await app.register(swagger, swaggerOptions)
  app.post('/login', { schema: { response: { 200: TokenPairSchema } } }, async () => app.createTokenPair('alice', { fresh: true, scopes: ['admin:read'] }))
  app.get('/health', async () => ({ ok: true }))
  app.get('/items/:id', { onRequest: [app.requireAccess] }, async () => ({ ok: true }))
  app.post('/refresh', { preHandler: app.requireRefresh }, async () => ({ ok: true }))
  app.post('/password', { onRequest: [async () => {}, app.requireFresh] }, async () => ({ ok: true }))
  app.get('/admin', { preValidation: app.authx.guard({ scopes: ['admin:*'] }) }, async () => ({ ok: true }))
  app.get('/feed', { onRequest: app.authx.guard({ optional: true }) }, async () => ({ ok: true }))
  await app.ready()
  return app
}

const errorRef = { $ref: '#/components/schemas/AuthxError' }

for (const order of ['before', 'after'] as const) {
  t.test(`swagger registered ${order} the plugin: the document states every guard`, async t => {
    const app = await appWith(order)
    const doc = app.swagger() as any

    t.same(doc.components.securitySchemes, {
      accessToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT access token in the Authorization header' },
      refreshToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT refresh token in the Authorization header' }
    }, 'a bearer scheme per token type, for the header location only')
    t.same(doc.components.schemas.AuthxError, {
      type: 'object',
      required: ['statusCode', 'code', 'error', 'message'],
      properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } }
    })

    t.notOk(doc.paths['/login'].post.security, 'an unguarded route has no security')
    t.same(Object.keys(doc.paths['/login'].post.responses), ['200'], 'and no 401')
    t.same(doc.paths['/health'].get, { responses: { 200: { description: 'Default Response' } } }, 'an unguarded route is untouched')

    const item = doc.paths['/items/{id}'].get
    t.same(item.security, [{ accessToken: [] }], 'a guard in an onRequest array')
    t.same(item.responses['401'].content['application/json'].schema, errorRef)
    t.notOk(item.responses['403'], 'no 403 without scopes')
    t.notOk('x-authx' in item, 'the marker does not reach the document')

    t.same(doc.paths['/refresh'].post.security, [{ refreshToken: [] }], 'refresh routes name the refresh scheme (preHandler)')
    t.same(doc.paths['/password'].post.security, [{ accessToken: [] }], 'a guard second in an array')
    t.match(doc.paths['/password'].post.responses['401'].description, /non-fresh/)

    const admin = doc.paths['/admin'].get
    t.same(admin.security, [{ accessToken: [] }], 'preValidation')
    t.same(admin.responses['403'].content['application/json'].schema, errorRef, '403 for a scoped guard')
    t.match(admin.responses['403'].description, /admin:\*/)

    t.same(doc.paths['/feed'].get.security, [{}, { accessToken: [] }], 'an optional guard: anonymous or a token')
    t.ok(doc.paths['/feed'].get.responses['401'], 'a bad token still fails')

    t.same(parseYaml(app.swagger({ yaml: true }) as unknown as string), JSON.parse(JSON.stringify(doc)), 'YAML states the same')
    await app.close()
  })
}

t.test('runtime behaviour is unchanged: error bodies, statuses and headers match an app without swagger', async t => {
  const plain = await appWith('none')
  const documented = await appWith('after')
  const token = plain.createAccessToken('alice', { scopes: ['other'] })
  for (const [url, headers] of [['/items/1', {}], ['/items/1', bearer('a.b.c')], ['/admin', bearer(token)], ['/feed', {}], ['/items/1', bearer(token)]] as const) {
    const a = await plain.inject({ url, headers })
    const b = await documented.inject({ url, headers })
    t.equal(b.statusCode, a.statusCode, `${url} status`)
    t.equal(b.body, a.body, `${url} body`)
    t.equal(b.headers['www-authenticate'], a.headers['www-authenticate'], `${url} challenge`)
  }
  const res = await documented.inject({ url: '/admin', headers: bearer(token) })
  t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'], 'the whole error body, not { message }')
  const login = await documented.inject({ method: 'POST', url: '/login' })
  t.equal(login.statusCode, 200)
  t.same(Object.keys(login.json()).sort(), ['access_token', 'refresh_token', 'token_type'])
  await plain.close(); await documented.close()
})

for (const order of ['none', 'before'] as const) {
  t.test(`the schema Fastify runs is untouched (swagger: ${order})`, async t => {
    const app = Fastify()
    if (order === 'before') await app.register(swagger, openapi)
    await app.register(authx, { secret: SECRET })
    app.get('/p', { onRequest: app.requireAccess }, async request => ({ schema: request.routeOptions.schema ?? null }))
    await app.ready()
    if (order === 'before') t.ok((app.swagger() as any).paths['/p'].get.security, 'the document was built')
    const res = await app.inject({ url: '/p', headers: bearer(app.createAccessToken('a')) })
    t.same(res.json(), { schema: null })
    await app.close()
  })
}

t.test('cookie and query locations: apiKey schemes with the configured names; CSRF on unsafe methods', async t => {
  const app = Fastify()
  await app.register(swagger, openapi)
  await app.register(authx, { secret: SECRET, tokenLocation: ['headers', 'cookies', 'query'], header: { name: 'X-Api-Token', type: '' }, cookies: { accessName: 'at' }, query: { name: 'jwt' } })
  app.get('/read', { onRequest: app.requireAccess }, async () => 'ok')
  app.post('/write', { onRequest: app.requireAccess }, async () => 'ok')
  app.get('/any', { onRequest: app.authx.guard({ type: 'any', locations: ['query'] }) }, async () => 'ok')
  await app.ready()
  const doc = app.swagger() as any
  t.same(doc.components.securitySchemes.accessToken, { type: 'apiKey', in: 'header', name: 'x-api-token', description: 'A JWT access token: send "<token>" in x-api-token' }, 'a non-Bearer header is an apiKey')
  t.same(doc.components.securitySchemes.accessTokenCookie, { type: 'apiKey', in: 'cookie', name: 'at', description: 'A JWT access token in a cookie' })
  t.same(doc.components.securitySchemes.accessTokenQuery, { type: 'apiKey', in: 'query', name: 'jwt', description: 'A JWT access token in the query string' })
  t.same(doc.paths['/read'].get.security, [{ accessToken: [] }, { accessTokenCookie: [] }, { accessTokenQuery: [] }], 'locations are alternatives, in order')
  t.same(doc.paths['/write'].post.security, [{ accessToken: [] }, { accessTokenCookie: [], accessCsrf: [] }, { accessTokenQuery: [] }], 'a cookie token on POST needs the CSRF header too')
  t.same(doc.components.securitySchemes.accessCsrf, { type: 'apiKey', in: 'header', name: 'x-csrf-token', description: 'The access CSRF value (the readable CSRF cookie), with a cookie token on unsafe methods' })
  t.same(doc.paths['/any'].get.security, [{ accessTokenQuery: [] }, { refreshTokenQuery: [] }], "type 'any' accepts either scheme; a per-route location override")
  await app.close()
})

t.test("the app's transforms, schemes, own security and TypeBox schemas keep working", async t => {
  const app = Fastify()
  await app.register(swagger, {
    openapi: { info: { title: 'x', version: '1' }, components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-key' } } } },
    transform: ({ schema, url }: { schema: any, url: string }) => ({ schema: { ...schema, summary: `summary of ${url}` }, url: url.replace('/v1', '') }),
    transformObject: ({ openapiObject }: any) => ({ ...openapiObject, 'x-transformed': true })
  })
  await app.register(authx, { secret: SECRET })
  const Body = Type.Object({ name: Type.String({ minLength: 1 }) })
  app.post('/v1/things', { onRequest: app.requireAccess, schema: { body: Body, response: { 200: Type.Object({ name: Type.String() }) } } }, async request => ({ name: (request.body as { name: string }).name, extra: 'dropped by the serializer' }))
  app.get('/v1/own', { onRequest: app.requireAccess, schema: { security: [{ apiKey: [] }] } }, async () => 'ok')
  app.get('/v1/documented', { onRequest: app.requireAccess, schema: { response: { 401: { description: 'Log in first', ...AuthErrorSchema } } } }, async () => 'ok')
  await app.ready()
  const doc = app.swagger() as any
  t.equal(doc['x-transformed'], true, 'transformObject ran')
  const things = doc.paths['/things'].post
  t.equal(things.summary, 'summary of /v1/things', 'the route transform ran')
  t.same(things.security, [{ accessToken: [] }], 'and the route is secured under its transformed URL')
  t.ok(things.requestBody.content['application/json'].schema.properties.name, 'the TypeBox body is documented')
  t.same(doc.paths['/own'].get.security, [{ apiKey: [] }], "a route's own security wins")
  t.same(Object.keys(doc.components.securitySchemes).sort(), ['accessToken', 'apiKey'], "the app's own schemes are kept")
  t.equal(doc.paths['/documented'].get.responses['401'].description, 'Log in first', "a route's own 401 is kept")
  t.same(doc.paths['/documented'].get.security, [{ accessToken: [] }])

  const token = app.createAccessToken('a')
  const bad = await app.inject({ method: 'POST', url: '/v1/things', headers: bearer(token), payload: { name: '' } })
  t.equal(bad.statusCode, 400, 'body validation still runs')
  const ok = await app.inject({ method: 'POST', url: '/v1/things', headers: bearer(token), payload: { name: 'n' } })
  t.same(ok.json(), { name: 'n' }, 'the response schema still serializes')
  t.equal((await app.inject({ method: 'POST', url: '/v1/things', payload: { name: 'n' } })).json().code, 'FST_AUTHX_MISSING_TOKEN')
  await app.close()
})

t.test('a guard added with addHook on a context is invisible until the route names it in config.authxGuard', async t => {
  const app = Fastify()
  await app.register(swagger, openapi)
  await app.register(authx, { secret: SECRET })
  await app.register(async api => {
    api.addHook('onRequest', api.requireAccess)
    api.get('/unmarked', async () => 'ok')
    api.get('/marked', { config: { authxGuard: api.requireAccess } }, async () => 'ok')
  })
  await app.register(async api => {
    const guard = api.authx.guard({ scopes: ['orders'] })
    api.addHook('onRequest', guard)
    api.addHook('onRoute', route => { route.config = { ...route.config, authxGuard: guard } })
    api.get('/orders', async () => 'ok')
  })
  await app.ready()
  const doc = app.swagger() as any
  t.notOk(doc.paths['/unmarked'].get.security, 'an addHook guard cannot be seen')
  t.same(doc.paths['/marked'].get.security, [{ accessToken: [] }], 'config.authxGuard marks it')
  t.same(doc.paths['/orders'].get.security, [{ accessToken: [] }], 'an onRoute hook marks a whole context')
  t.ok(doc.paths['/orders'].get.responses['403'])
  t.equal((await app.inject({ url: '/marked' })).statusCode, 401, 'the guard itself still runs')
  await app.close()
})

t.test('Swagger 2.0 documents get securityDefinitions', async t => {
  const app = await appWith('before', { tokenLocation: ['headers', 'query'] }, { swagger: { info: { title: 'x', version: '1' } } })
  const doc = app.swagger() as any
  t.equal(doc.swagger, '2.0')
  t.same(doc.securityDefinitions.accessTokenQuery, { type: 'apiKey', in: 'query', name: 'token', description: 'A JWT access token in the query string' })
  t.same(doc.paths['/items/{id}'].get.security, [{ accessToken: [] }, { accessTokenQuery: [] }])
  t.same(doc.paths['/items/{id}'].get.responses['401'].schema, { $ref: '#/definitions/AuthxError' })
  await app.close()
})

t.test('Swagger UI serves the secured document (it answered 500 when a scheme was missing)', async t => {
  const app = Fastify()
  await app.register(authx, { secret: SECRET })
  await app.register(swagger, openapi)
  await app.register(swaggerUi, { routePrefix: '/documentation' })
  app.get('/p', { onRequest: app.requireAccess }, async () => 'ok')
  await app.ready()
  const json = await app.inject({ url: '/documentation/json' })
  t.equal(json.statusCode, 200)
  t.same(json.json().paths['/p'].get.security, [{ accessToken: [] }])
  const yaml = await app.inject({ url: '/documentation/yaml' })
  t.equal(yaml.statusCode, 200)
  t.same(parseYaml(yaml.body).paths['/p'].get.security, [{ accessToken: [] }])
  await app.close()
})

t.test('two instances of the plugin in sibling contexts: both documented, each with its own names', async t => {
  const app = Fastify()
  await app.register(swagger, openapi)
  await app.register(async api => {
    await api.register(authx, { secret: SECRET })
    api.get('/users/me', { onRequest: api.requireAccess }, async () => 'ok')
  })
  await app.register(async partners => {
    await partners.register(authx, { secret: SECRET, tokenLocation: ['query'], query: { name: 'partner_token' } })
    partners.get('/partners/feed', { onRequest: partners.requireAccess }, async () => 'ok')
  })
  await app.ready()
  const doc = app.swagger() as any
  t.same(doc.paths['/users/me'].get.security, [{ accessToken: [] }])
  t.same(doc.paths['/partners/feed'].get.security, [{ accessTokenQuery: [] }])
  t.equal(doc.components.securitySchemes.accessTokenQuery.name, 'partner_token')
  t.equal(doc.components.securitySchemes.accessToken.scheme, 'bearer')
  await app.close()
})
