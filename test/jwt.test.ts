import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import t from 'tap'
import authx from '../lib/index'
import { SECRET, bearer, build, headerOf, keyPair } from './helpers/app'
import { rfc7638 } from './helpers/jwk'

// lib/jwt.ts: the @fastify/jwt adapter, one instance per key: every algorithm signs and verifies, a
// public key alone only verifies, and the app's own @fastify/jwt is left alone.

t.test('every algorithm family signs and verifies; verify-only instances verify', async t => {
  for (const alg of ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const) {
    const hmac = alg.startsWith('HS')
    const pair = hmac ? undefined : keyPair(alg)
    const app = await build(hmac ? { secret: SECRET, algorithm: alg } : { algorithm: alg, privateKey: pair!.privateKey })
    const token = app.createAccessToken('a')
    t.equal(headerOf(token).alg, alg, `${alg} signs`)
    t.equal((await app.inject({ url: '/access', headers: bearer(token) })).statusCode, 200, `${alg} verifies`)
    if (!hmac) {
      // The kid is the RFC 7638 thumbprint of the public key, computed here from Node's own JWK export;
      // the JWKS publishes that key under the same kid.
      const kid = headerOf(token).kid
      t.equal(kid, rfc7638(pair!.publicKey.export({ format: 'jwk' })), `${alg} tokens carry the RFC 7638 thumbprint of the public key as kid`)
      t.same(app.authx.jwks().keys.map(k => [k.kid, rfc7638(k)]), [[kid, kid]], `${alg}: the JWKS publishes that key under that kid`)
      const verifier = await build({ algorithm: alg, publicKey: pair!.publicKey })
      t.equal((await verifier.inject({ url: '/access', headers: bearer(token) })).statusCode, 200, `${alg} verify-only instance accepts`)
      t.throws(() => verifier.createAccessToken('a'), /only verifies/, `${alg} verify-only instance cannot sign`)
      await verifier.close()
    }
    await app.close()
  }
})

t.test('EdDSA with Ed448', async t => {
  const app = await build({ algorithm: 'EdDSA', privateKey: keyPair('Ed448').privateKey })
  t.equal((await app.inject({ url: '/access', headers: bearer(app.createAccessToken('a')) })).statusCode, 200)
  await app.close()
})

t.test('@fastify/jwt registered by the app after the plugin keeps its secret, its decorators and request.user', async t => {
  const OWN = 'the-apps-own-secret-for-its-other-tokens!'
  const app = Fastify()
  await app.register(authx, { secret: SECRET })
  await app.register(fastifyJwt, { secret: OWN })
  app.get('/own', { onRequest: async request => { await request.jwtVerify() } }, async request => request.user)
  app.get('/access', { onRequest: app.requireAccess }, async request => request.tokenPayload.sub)
  await app.ready()
  const own = app.jwt.sign({ sub: 'legacy' })
  t.match((await app.inject({ url: '/own', headers: bearer(own) })).json(), { sub: 'legacy' }, 'app.jwt signs and request.jwtVerify() verifies with the app\'s secret')
  t.equal((await app.inject({ url: '/access', headers: bearer(own) })).json().code, 'FST_AUTHX_INVALID_TOKEN', 'such a token is none of the plugin\'s')
  const ours = app.createAccessToken('alice')
  t.equal((await app.inject({ url: '/access', headers: bearer(ours) })).body, 'alice', 'the plugin signs and verifies with its own key')
  t.equal((await app.inject({ url: '/own', headers: bearer(ours) })).statusCode, 401, 'and its tokens do not pass the app\'s verifier')
  await app.close()
})

t.test('@fastify/jwt registered by the app before the plugin: both register, and each keeps its own tokens', async t => {
  // README "Coming from @fastify/jwt": "an app that keeps @fastify/jwt registered for other tokens (another
  // issuer, a migration period) keeps app.jwt, request.jwtVerify() and request.user exactly as they were".
  const OWN = 'the-apps-own-secret-for-its-other-tokens!'
  const app = Fastify()
  await app.register(fastifyJwt, { secret: OWN })
  await app.register(authx, { secret: SECRET })
  app.get('/own', { onRequest: async request => { await request.jwtVerify() } }, async request => request.user)
  app.get('/access', { onRequest: app.requireAccess }, async request => request.tokenPayload.sub)
  await app.ready()
  t.match((await app.inject({ url: '/own', headers: bearer(app.jwt.sign({ sub: 'legacy' })) })).json(), { sub: 'legacy' }, 'the app\'s tokens verify with its own secret')
  t.equal((await app.inject({ url: '/access', headers: bearer(app.createAccessToken('alice')) })).body, 'alice', 'the plugin\'s tokens with its key')
  await app.close()
})
