import t from 'tap'
import Fastify from 'fastify'
import authx from '../lib/index'
import { SECRET, bearer, build, hs256 } from './helpers/app'

t.test('requireAccess, requireRefresh, requireFresh', async t => {
  const app = await build()
  const access = app.createAccessToken('alice', { fresh: true })
  const stale = app.createAccessToken('alice')
  const refresh = app.createRefreshToken('alice')

  let res = await app.inject({ url: '/access', headers: bearer(access) })
  t.equal(res.statusCode, 200)
  t.equal(res.json().payload.sub, 'alice')
  t.equal(res.json().location, 'headers')

  res = await app.inject({ url: '/access', headers: bearer(refresh) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'FST_AUTHX_ACCESS_TOKEN_REQUIRED')

  res = await app.inject({ url: '/refresh', headers: bearer(refresh) })
  t.equal(res.statusCode, 200)
  t.equal(res.json().payload.type, 'refresh')

  res = await app.inject({ url: '/refresh', headers: bearer(access) })
  t.equal(res.json().code, 'FST_AUTHX_REFRESH_TOKEN_REQUIRED')

  t.equal((await app.inject({ url: '/fresh', headers: bearer(access) })).statusCode, 200)
  res = await app.inject({ url: '/fresh', headers: bearer(stale) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'FST_AUTHX_FRESH_TOKEN_REQUIRED')
  t.equal(res.headers['www-authenticate'], 'Bearer error="insufficient_user_authentication", error_description="A fresh token is required"')
  t.equal((await app.inject({ url: '/fresh', headers: bearer(refresh) })).json().code, 'FST_AUTHX_ACCESS_TOKEN_REQUIRED', 'type is checked before freshness')
  await app.close()
})

t.test('only fresh === true is fresh', async t => {
  const { createSigner } = await import('fast-jwt')
  const app = await build()
  const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 60000 })
  for (const fresh of ['true', 1, 'yes', {}, [true]]) {
    const res = await app.inject({ url: '/fresh', headers: bearer(sign({ sub: 'a', type: 'access', jti: 'j', fresh })) })
    t.equal(res.json().code, 'FST_AUTHX_FRESH_TOKEN_REQUIRED', `fresh: ${JSON.stringify(fresh)}`)
  }
  await app.close()
})

t.test('Authorization header parsing', async t => {
  const app = await build()
  const token = app.createAccessToken('a')
  const cases: Array<[string, number, string | undefined]> = [
    [`Bearer ${token}`, 200, undefined],
    [`bearer ${token}`, 200, undefined],
    [`BEARER ${token}`, 200, undefined],
    [`Bearer   ${token}  `, 200, undefined],
    ['Bearer', 400, 'FST_AUTHX_MALFORMED_HEADER'],
    ['Bearer ', 400, 'FST_AUTHX_MALFORMED_HEADER'],
    [`Bearer ${token} ${token}`, 400, 'FST_AUTHX_MALFORMED_HEADER'],
    [`Bearer ${token},${token}`, 400, 'FST_AUTHX_MALFORMED_HEADER'],
    [`Basic ${Buffer.from('u:p').toString('base64')}`, 401, 'FST_AUTHX_MISSING_TOKEN'],
    [token, 401, 'FST_AUTHX_MISSING_TOKEN'],
    [`Bearerx ${token}`, 401, 'FST_AUTHX_MISSING_TOKEN'],
    ['Bearer not.a.token', 401, 'FST_AUTHX_INVALID_TOKEN'],
    ['Bearer garbage', 401, 'FST_AUTHX_INVALID_TOKEN']
  ]
  for (const [value, status, code] of cases) {
    const res = await app.inject({ url: '/access', headers: { authorization: value } })
    t.equal(res.statusCode, status, value.slice(0, 30))
    if (code !== undefined) t.equal(res.json().code, code, value.slice(0, 30))
  }
  const res = await app.inject({ url: '/access', headers: { authorization: [`Bearer ${token}`, `Bearer ${token}`] } as any })
  t.equal(res.statusCode, 400, 'repeated Authorization lines are malformed')
  t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_request"')
  await app.close()
})

t.test('header name and type options', async t => {
  const custom = await build({ secret: SECRET, header: { name: 'X-Auth', type: 'JWT' } })
  const token = custom.createAccessToken('a')
  t.equal((await custom.inject({ url: '/access', headers: { 'x-auth': `JWT ${token}` } })).statusCode, 200)
  t.equal((await custom.inject({ url: '/access', headers: { authorization: `Bearer ${token}` } })).json().code, 'FST_AUTHX_MISSING_TOKEN')
  await custom.close()
  const bare = await build({ secret: SECRET, header: { type: '' } })
  const t2 = bare.createAccessToken('a')
  t.equal((await bare.inject({ url: '/access', headers: { authorization: t2 } })).statusCode, 200, "type: '' takes the whole header")
  t.equal((await bare.inject({ url: '/access', headers: { authorization: `Bearer ${t2}` } })).json().code, 'FST_AUTHX_MALFORMED_HEADER')
  await bare.close()
})

t.test('WWW-Authenticate challenges and the error body', async t => {
  const app = await build()
  let res = await app.inject({ url: '/access' })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer', 'no token: a bare challenge')
  t.same(res.json(), { statusCode: 401, code: 'FST_AUTHX_MISSING_TOKEN', error: 'Unauthorized', message: 'No token found in the request' })
  res = await app.inject({ url: '/access', headers: bearer('a.b.c') })
  t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
  t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'], 'the ordinary Fastify error body, no stack')
  await app.close()
})

t.test('scopes', async t => {
  const app = await build({ secret: SECRET }, app => {
    app.get('/admin', { onRequest: app.authx.guard({ scopes: ['admin:users:write'] }) }, async () => 'ok')
    app.get('/both', { onRequest: app.authx.guard({ scopes: ['read', 'write'] }) }, async () => 'ok')
    app.get('/either', { onRequest: app.authx.guard({ scopes: ['read', 'write'], allScopes: false }) }, async () => 'ok')
    app.get('/ns', { onRequest: app.authx.guard({ scopes: ['admin'] }) }, async () => 'ok')
  })
  const call = async (url: string, scopes?: string[]) => await app.inject({ url, headers: bearer(app.createAccessToken('a', scopes === undefined ? {} : { scopes })) })
  t.equal((await call('/admin', ['admin:users:write'])).statusCode, 200, 'exact')
  t.equal((await call('/admin', ['admin:*'])).statusCode, 200, 'admin:* covers admin:users:write')
  t.equal((await call('/admin', ['admin:users:*'])).statusCode, 200, 'admin:users:* covers admin:users:write')
  t.equal((await call('/ns', ['admin:*'])).statusCode, 200, 'admin:* covers admin')
  t.equal((await call('/admin', ['Admin:*'])).statusCode, 403, 'case-sensitive')
  t.equal((await call('/admin', ['adm:*'])).statusCode, 403, 'prefix without the colon does not match')
  t.equal((await call('/admin', ['admin:users'])).statusCode, 403, 'parent without wildcard does not cover')
  t.equal((await call('/admin', ['*'])).statusCode, 403, 'a bare * is not a wildcard')
  const res = await call('/admin')
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'FST_AUTHX_INSUFFICIENT_SCOPE')
  t.equal(res.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="admin:users:write"')
  t.equal((await call('/both', ['read'])).statusCode, 403, 'allScopes (default) needs every scope')
  t.equal((await call('/both', ['read', 'write'])).statusCode, 200)
  t.equal((await call('/either', ['write'])).statusCode, 200, 'allScopes: false needs one')
  t.equal((await call('/either', ['delete'])).statusCode, 403)
  await app.close()
})

t.test('guard type any, optional, checkRevoked', async t => {
  let revokedCalls = 0
  const app = await build({ secret: SECRET, isRevoked: () => { revokedCalls++; return true } }, app => {
    app.get('/any', { onRequest: app.authx.guard({ type: 'any', checkRevoked: false }) }, async req => req.tokenPayload.type)
    app.get('/feed', { onRequest: app.authx.guard({ optional: true, checkRevoked: false }) }, async req => ({ payload: req.tokenPayload, location: req.tokenLocation }))
  })
  t.equal((await app.inject({ url: '/any', headers: bearer(app.createAccessToken('a')) })).body, 'access')
  t.equal((await app.inject({ url: '/any', headers: bearer(app.createRefreshToken('a')) })).body, 'refresh')
  t.equal(revokedCalls, 0, 'checkRevoked: false skips revocation')
  let res = await app.inject({ url: '/feed' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { payload: null, location: null }, 'optional: no token → null payload')
  res = await app.inject({ url: '/feed', headers: bearer('bad.token.here') })
  t.equal(res.statusCode, 401, 'optional: a bad token still fails')
  t.equal((await app.inject({ url: '/feed', headers: bearer(app.createAccessToken('a')) })).json().payload.sub, 'a')
  res = await app.inject({ url: '/access', headers: bearer(app.createAccessToken('a')) })
  t.equal(res.json().code, 'FST_AUTHX_REVOKED_TOKEN', 'isRevoked → revoked')
  t.equal(revokedCalls, 1)
  await app.close()
})

t.test('isRevoked gets the verified payload and the request; failures fail closed', async t => {
  const seen: any[] = []
  let mode: 'ok' | 'throw' | 'hang' | 'reject' = 'ok'
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (l: string) => { logs.push(l) } } } })
  await app.register(authx, {
    secret: SECRET,
    storeTimeout: 50,
    isRevoked: async (payload, request) => {
      seen.push([payload.jti, request.url])
      if (mode === 'throw') throw new Error('db password is hunter2')
      if (mode === 'reject') return await Promise.reject(new Error('ECONNREFUSED 10.0.0.5'))
      if (mode === 'hang') return await new Promise<boolean>(() => {})
      return payload.jti === 'never'
    }
  })
  let ran = 0
  app.get('/p', { onRequest: app.requireAccess }, async () => { ran++; return 'ok' })
  const token = app.createAccessToken('a')
  t.equal((await app.inject({ url: '/p', headers: bearer(token) })).statusCode, 200)
  t.equal(seen[0][1], '/p')
  t.match(seen[0][0], /^[0-9a-f-]{36}$/)
  for (const m of ['throw', 'reject', 'hang'] as const) {
    mode = m
    const res = await app.inject({ url: '/p', headers: bearer(token) })
    t.equal(res.statusCode, 503, `${m}: 503`)
    t.equal(res.json().code, 'FST_AUTHX_STORE_UNAVAILABLE')
    t.notMatch(res.body, /hunter2|ECONNREFUSED|10\.0\.0\.5/, `${m}: no driver text in the body`)
  }
  t.equal(ran, 1, 'the handler never ran on failure')
  t.ok(logs.some(l => /token store unavailable/.test(l) && /hunter2/.test(l)), 'the cause is logged')
  await app.close()
})

t.test('guards work at onRequest, preValidation, preHandler and app-wide', async t => {
  const app = Fastify()
  await app.register(authx, { secret: SECRET })
  for (const hook of ['onRequest', 'preValidation', 'preHandler'] as const) {
    app.get(`/${hook}`, { [hook]: app.requireAccess }, async req => req.tokenPayload.sub)
  }
  await app.register(async scoped => {
    scoped.addHook('onRequest', scoped.requireAccess)
    scoped.get('/scoped/a', async req => req.tokenPayload.sub)
    scoped.get('/scoped/b', async req => req.tokenPayload.sub)
  })
  app.get('/public', async () => 'public')
  const token = app.createAccessToken('alice')
  for (const url of ['/onRequest', '/preValidation', '/preHandler', '/scoped/a', '/scoped/b']) {
    t.equal((await app.inject({ url, headers: bearer(token) })).body, 'alice', `${url} with a token`)
    t.equal((await app.inject({ url })).statusCode, 401, `${url} without`)
  }
  t.equal((await app.inject({ url: '/public' })).statusCode, 200, 'routes outside the guarded context stay public')
  await app.close()
})

t.test('exemptMethods: the guard answers them itself (204), the handler never runs without a token', async t => {
  let ran = 0
  const handler = async (): Promise<string> => { ran++; return 'ok' }
  const app = Fastify()
  await app.register(authx, { secret: SECRET })
  app.all('/x', { onRequest: app.requireAccess }, handler)
  app.all('/pre', { preHandler: app.authx.guard({ type: 'any' }) }, handler)
  app.all('/feed', { onRequest: app.authx.guard({ optional: true }) }, async request => ({ payload: request.tokenPayload }))
  for (const url of ['/x', '/pre']) {
    const res = await app.inject({ method: 'OPTIONS', url })
    t.equal(res.statusCode, 204, `${url}: OPTIONS is exempt by default and answered 204`)
    t.equal(res.body, '', `${url}: with no body`)
  }
  const token = app.createAccessToken('alice')
  t.equal((await app.inject({ method: 'OPTIONS', url: '/x', headers: bearer(token) })).statusCode, 204, 'with a token too: the guard does not verify it')
  t.equal(ran, 0, 'the handler never ran for an exempt method')
  t.equal((await app.inject({ method: 'GET', url: '/x' })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/x', headers: bearer(token) })).statusCode, 200)
  t.equal(ran, 1)
  const feed = await app.inject({ method: 'OPTIONS', url: '/feed', headers: bearer(token) })
  t.equal(feed.statusCode, 200, 'an optional guard lets an exempt method through')
  t.strictSame(feed.json(), { payload: null }, 'with no identity, even with a valid token')
  await app.close()

  // Called directly from an async hook, with an onSend hook that waits: the guard settles only once the
  // reply is out, or Fastify (seeing reply.sent still false) would go on to the handler.
  const direct = Fastify()
  await direct.register(authx, { secret: SECRET })
  direct.addHook('onSend', async (_request, _reply, payload) => { await new Promise(resolve => setImmediate(resolve)); return payload })
  direct.all('/pre', { preHandler: async (request, reply) => { await direct.requireAccess(request, reply) } }, handler)
  direct.all('/on', { onRequest: async (request, reply) => { await direct.requireAccess(request, reply) } }, handler)
  const before = ran
  for (const url of ['/pre', '/on']) t.equal((await direct.inject({ method: 'OPTIONS', url })).statusCode, 204, `${url}: 204`)
  t.equal(ran, before, 'called directly, the guard answers too, and the handler never runs')
  await direct.close()

  const custom = Fastify()
  await custom.register(authx, { secret: SECRET, exemptMethods: ['head'] })
  custom.route({ method: ['OPTIONS', 'HEAD'], url: '/x', onRequest: custom.requireAccess, handler })
  t.equal((await custom.inject({ method: 'OPTIONS', url: '/x' })).statusCode, 401, 'OPTIONS guarded when not listed')
  t.equal((await custom.inject({ method: 'HEAD', url: '/x' })).statusCode, 204, 'HEAD exempt when listed (case-insensitive)')
  t.equal(ran, 1, 'and the handler still never ran unauthenticated')
  await custom.close()
})

t.test('maxTokenLength refuses long tokens before decoding', async t => {
  const app = await build({ secret: SECRET, maxTokenLength: 400 })
  const short = app.createAccessToken('a')
  t.equal((await app.inject({ url: '/access', headers: bearer(short) })).statusCode, 200)
  const long = app.createAccessToken('a', { data: { pad: 'x'.repeat(500) } })
  t.equal((await app.inject({ url: '/access', headers: bearer(long) })).json().code, 'FST_AUTHX_INVALID_TOKEN')
  const def = await build()
  const huge = def.createAccessToken('a', { data: { pad: 'x'.repeat(9000) } })
  t.equal((await def.inject({ url: '/access', headers: bearer(huge) })).json().code, 'FST_AUTHX_INVALID_TOKEN', 'default 8192')
  await app.close(); await def.close()
})

t.test('request.getSubject()', async t => {
  let loads = 0
  const app = Fastify()
  await app.register(authx, { secret: SECRET, getSubject: async (sub, payload) => { loads++; return { id: sub, role: payload.role } } })
  app.get('/me', { onRequest: app.requireAccess }, async req => {
    const a = await req.getSubject()
    const b = await req.getSubject()
    return { same: a === b, user: a }
  })
  app.get('/open', async req => await req.getSubject())
  const res = await app.inject({ url: '/me', headers: bearer(app.createAccessToken('42', { data: { role: 'admin' } })) })
  t.same(res.json(), { same: true, user: { id: '42', role: 'admin' } })
  t.equal(loads, 1, 'loaded once per request')
  const open = await app.inject({ url: '/open' })
  t.equal(open.statusCode, 401, 'no verified token on the request: not authenticated (never a 5xx a client can cause)')
  t.equal(open.json().code, 'FST_AUTHX_MISSING_TOKEN')
  await app.close()
  const none = Fastify()
  await none.register(authx, { secret: SECRET })
  none.get('/me', { onRequest: none.requireAccess }, async req => await req.getSubject())
  const r2 = await none.inject({ url: '/me', headers: bearer(none.createAccessToken('a')) })
  t.equal(r2.statusCode, 500)
  t.match(r2.json().message, /getSubject option/, 'a clear configuration error')
  t.equal(r2.json().code, 'FST_AUTHX_GET_SUBJECT_MISSING')
  await none.close()
})

t.test('claims reach the app as a plain copy that pollutes nothing', async t => {
  // JSON.parse makes `__proto__` an own data property, and `constructor` is only a claim name: the token is
  // well formed and correctly signed, so it is accepted (200); what the handler gets is a plain object.
  const token = hs256(`{"sub":"a","type":"access","jti":"j","exp":${Math.floor(Date.now() / 1000) + 60},"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}`)
  for (const options of [{ secret: SECRET }, { secret: SECRET, verifyCache: true }]) {
    const label = options.verifyCache === true ? 'verifyCache (a copy of the cached claims)' : 'no cache'
    let seen: any
    const app = await build(options, app => {
      app.get('/inspect', { onRequest: app.requireAccess }, async req => { seen = req.tokenPayload; return 'ok' })
    })
    const res = await app.inject({ url: '/inspect', headers: bearer(token) })
    t.equal(res.statusCode, 200, `${label}: accepted`)
    t.equal(({} as any).polluted, undefined, `${label}: Object.prototype untouched`)
    t.equal(({} as any).constructor, Object, `${label}: Object.prototype.constructor untouched`)
    t.equal(Object.getPrototypeOf(seen), Object.prototype, `${label}: the payload is a plain object`)
    t.equal(seen.polluted, undefined, `${label}: its prototype was not replaced`)
    t.same(Object.getOwnPropertyDescriptor(seen, '__proto__')?.value, { polluted: true }, `${label}: __proto__ is an own data claim`)
    t.same(seen.constructor, { prototype: { polluted: true } }, `${label}: constructor is an own data claim`)
    t.equal(seen.sub, 'a', `${label}: the other claims are there`)
    await app.close()
  }
})

t.test('a guard called directly returns a promise', async t => {
  const app = Fastify()
  await app.register(authx, { secret: SECRET })
  app.get('/own-hook', {
    onRequest: async (request, reply) => {
      if (request.headers['x-skip'] === '1') return
      await app.requireAccess(request, reply)
    }
  }, async req => req.tokenPayload?.sub ?? 'anonymous')
  t.equal((await app.inject({ url: '/own-hook', headers: bearer(app.createAccessToken('alice')) })).body, 'alice')
  t.equal((await app.inject({ url: '/own-hook', headers: { 'x-skip': '1' } })).body, 'anonymous')
  const res = await app.inject({ url: '/own-hook' })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'FST_AUTHX_MISSING_TOKEN')
  t.equal(res.headers['www-authenticate'], 'Bearer')
  await app.close()
})
