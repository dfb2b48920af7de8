import type { TObject } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { InjectOptions } from 'fastify'
import t, { type Test } from 'tap'
import { AccessTokenResponseSchema, AuthErrorSchema, TokenPairSchema, TokenPayloadSchema } from '../lib/index'
import { SECRET, bearer, build, hs256 } from './helpers/app'
import { ProbeStore } from './helpers/stores'

// lib/schemas.ts: the exported schemas (route `response` definitions, OpenAPI documents) checked against
// what the plugin really returns and answers, with TypeBox's own checker.

/**
 * `value` matches `schema` (the failure names every path TypeBox objects to); `closed` schemas describe
 * the whole value, so the value must have exactly the schema's properties, none more.
 */
function conforms (t: Test, schema: TObject, value: unknown, label: string, closed: boolean): void {
  const errors = [...Value.Errors(schema, value)].map(e => `${e.path || '/'} ${e.message}`)
  t.ok(Value.Check(schema, value), `${label}: matches ${String(schema.$id)}${errors.length === 0 ? '' : ` (${errors.join('; ')})`}`)
  if (closed) t.same(Object.keys(value as object).sort(), Object.keys(schema.properties).sort(), `${label}: no other property`)
}

t.test('the checks can fail: values that are not what a schema says are told apart', async t => {
  t.notOk(Value.Check(TokenPairSchema, { access_token: 'a', refresh_token: 'r', token_type: 'Bearer' }), 'TokenPair: token_type is the literal bearer')
  t.notOk(Value.Check(AccessTokenResponseSchema, {}), 'AccessTokenResponse: access_token is required')
  t.notOk(Value.Check(TokenPayloadSchema, { sub: 'a', type: 'id', jti: 'j', iat: 1 }), 'TokenPayload: type is access or refresh')
  t.notOk(Value.Check(TokenPayloadSchema, { sub: 'a', type: 'access', jti: 'j', iat: 1.5 }), 'TokenPayload: iat is an integer')
  t.notOk(Value.Check(AuthErrorSchema, { statusCode: 401, code: 'X', error: 'Unauthorized' }), 'AuthError: message is required')
  conforms(t, TokenPairSchema, { access_token: 'a', refresh_token: 'r', token_type: 'bearer' }, 'a hand-made pair', true)
})

t.test('TokenPairSchema: createTokenPair, createSession and rotateRefreshToken', async t => {
  const app = await build({ secret: SECRET, rotation: { reuseGraceSeconds: 0 }, store: new ProbeStore() }, app => {
    app.post('/login', async request => await app.authx.createSession('alice', { request, scopes: ['read'], data: { role: 'admin' } }))
  })
  const pair = app.createTokenPair('alice', { scopes: ['read'], data: { role: 'admin' }, fresh: true })
  conforms(t, TokenPairSchema, pair, 'createTokenPair', true)
  const session = await app.authx.createSession('alice')
  conforms(t, TokenPairSchema, session, 'createSession', true)
  const login = await app.inject({ method: 'POST', url: '/login' })
  t.equal(login.statusCode, 200)
  conforms(t, TokenPairSchema, login.json(), 'createSession sent as a response', true)
  const rotated = await app.authx.rotateRefreshToken(app.authx.verifyToken(session.refresh_token, { type: 'refresh' }))
  conforms(t, TokenPairSchema, rotated, 'rotateRefreshToken', true)
  await app.close()
})

t.test('AccessTokenResponseSchema: refreshAccessToken', async t => {
  const app = await build()
  const pair = app.createTokenPair('alice', { data: { role: 'admin' } })
  const response = await app.authx.refreshAccessToken(app.authx.verifyToken(pair.refresh_token, { type: 'refresh' }))
  conforms(t, AccessTokenResponseSchema, response, 'refreshAccessToken', true)
  await app.close()
})

t.test('TokenPayloadSchema: verifyToken and request.tokenPayload, data claims included', async t => {
  let seen: unknown
  const app = await build({ secret: SECRET, issuer: 'https://auth.example', audience: ['api', 'web'], tokenLocation: ['headers', 'cookies'] }, app => {
    app.get('/seen', { onRequest: app.requireAccess }, async request => { seen = request.tokenPayload; return 'ok' })
  })
  const data = { role: 'admin', tenant: { id: 7, name: 'acme' }, tags: ['a', 'b'], flag: false, nothing: null }
  const pair = app.createTokenPair('alice', { scopes: ['read', 'write'], data, fresh: true })
  const access = app.authx.verifyToken(pair.access_token)
  conforms(t, TokenPayloadSchema, access, 'verifyToken, an access token of a pair', false)
  t.match(access, { ...data, scopes: ['read', 'write'], iss: 'https://auth.example', aud: ['api', 'web'], fresh: true }, 'with every claim it was given')
  for (const claim of ['fam', 'csrf', 'nbf', 'exp']) t.type(access[claim], claim === 'fam' || claim === 'csrf' ? 'string' : 'number', `its ${claim}`)
  conforms(t, TokenPayloadSchema, app.authx.verifyToken(pair.refresh_token), 'verifyToken, a refresh token', false)
  conforms(t, TokenPayloadSchema, app.authx.verifyToken(app.createAccessToken('bob', { audience: 'billing' })), 'verifyToken, a single audience', false)
  const res = await app.inject({ url: '/seen', headers: bearer(pair.access_token) })
  t.equal(res.statusCode, 200)
  conforms(t, TokenPayloadSchema, seen, 'request.tokenPayload', false)
  t.match(seen, data, 'request.tokenPayload carries the data claims')
  await app.close()
})

t.test('AuthErrorSchema: the body of every kind of refusal (400, 401, 403, 503)', async t => {
  const store = new ProbeStore()
  const app = await build({ secret: SECRET, store, tokenLocation: ['headers', 'cookies'] }, app => {
    app.get('/admin', { onRequest: app.authx.guard({ scopes: ['admin'] }) }, async () => 'ok')
  })
  const now = Math.floor(Date.now() / 1000)
  const revoked = app.createAccessToken('alice')
  await app.authx.revokeToken(revoked)
  const cases: Array<[number, string, InjectOptions]> = [
    [400, 'FST_AUTHX_MALFORMED_HEADER', { url: '/access', headers: { authorization: 'Bearer one two' } }],
    [401, 'FST_AUTHX_MISSING_TOKEN', { url: '/access' }],
    [401, 'FST_AUTHX_INVALID_TOKEN', { url: '/access', headers: bearer('not-a-token') }],
    [401, 'FST_AUTHX_TOKEN_EXPIRED', { url: '/access', headers: bearer(hs256({ sub: 'a', type: 'access', jti: 'j', iat: now - 100, exp: now - 10 })) }],
    [401, 'FST_AUTHX_ACCESS_TOKEN_REQUIRED', { url: '/access', headers: bearer(app.createRefreshToken('alice')) }],
    [401, 'FST_AUTHX_REFRESH_TOKEN_REQUIRED', { url: '/refresh', headers: bearer(app.createAccessToken('alice')) }],
    [401, 'FST_AUTHX_FRESH_TOKEN_REQUIRED', { url: '/fresh', headers: bearer(app.createAccessToken('alice')) }],
    [401, 'FST_AUTHX_CSRF_MISSING', { method: 'POST', url: '/access', headers: { cookie: `access_token_cookie=${app.createAccessToken('alice')}` } }],
    [401, 'FST_AUTHX_REVOKED_TOKEN', { url: '/access', headers: bearer(revoked) }],
    [403, 'FST_AUTHX_INSUFFICIENT_SCOPE', { url: '/admin', headers: bearer(app.createAccessToken('alice', { scopes: ['read'] })) }]
  ]
  for (const [status, code, request] of cases) {
    const res = await app.inject(request)
    t.equal(res.statusCode, status, `${code}: ${status}`)
    t.equal(res.json().code, code, `${code}: the code`)
    conforms(t, AuthErrorSchema, res.json(), `${status} ${code}`, true)
  }
  store.mode.fail = true
  const unavailable = await app.inject({ url: '/access', headers: bearer(app.createAccessToken('alice')) })
  t.equal(unavailable.statusCode, 503)
  t.equal(unavailable.json().code, 'FST_AUTHX_STORE_UNAVAILABLE')
  conforms(t, AuthErrorSchema, unavailable.json(), '503 FST_AUTHX_STORE_UNAVAILABLE', true)
  await app.close()
})
