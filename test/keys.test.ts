import t from 'tap'
import { createSigner } from 'fast-jwt'
import { SECRET, bearer, build, headerOf, keyPair, testClock } from './helpers/app'

// lib/keys.ts: keys, their kids, previous keys and the JWKS.

const now = () => Math.floor(Date.now() / 1000)

t.test('keyId, key rotation and JWKS', async t => {
  const clock = testClock()
  const oldApp = await build({ secret: 'old-secret-old-secret-old-secret-1234', now: clock.now })
  const newApp = await build({ secret: SECRET, previousSecret: 'old-secret-old-secret-old-secret-1234', now: clock.now })
  const old = oldApp.createAccessToken('a')
  t.equal((await newApp.inject({ url: '/access', headers: bearer(old) })).statusCode, 200, 'a token signed with the previous secret is accepted')
  t.equal((await oldApp.inject({ url: '/access', headers: bearer(newApp.createAccessToken('a')) })).statusCode, 401, 'new tokens are signed with the current secret')
  const expiredOld = oldApp.createAccessToken('a', { expiresIn: 1 })
  clock.advance(1000)
  t.equal((await newApp.inject({ url: '/access', headers: bearer(expiredOld) })).json().code, 'FST_AUTHX_TOKEN_EXPIRED', 'an expired token signed with the previous key is reported expired')
  await oldApp.close(); await newApp.close()

  const kidApp = await build({ secret: SECRET, keyId: 'v2', previousSecret: { secret: 'old-secret-old-secret-old-secret-1234', keyId: 'v1' } })
  const token = kidApp.createAccessToken('a')
  t.equal(headerOf(token).kid, 'v2', 'keyId is written')
  const v1 = createSigner({ key: 'old-secret-old-secret-old-secret-1234', algorithm: 'HS256', kid: 'v1' })
  const claims = { sub: 'a', type: 'access', jti: 'j', exp: now() + 60 }
  t.equal((await kidApp.inject({ url: '/access', headers: bearer(v1(claims)) })).statusCode, 200, 'kid v1 selects the previous secret')
  for (const kid of ['v3', '__proto__', 'constructor', 'toString', '../../etc/passwd', "' OR 1=1 --"]) {
    const forged = createSigner({ key: SECRET, algorithm: 'HS256', kid })(claims)
    t.equal((await kidApp.inject({ url: '/access', headers: bearer(forged) })).json().code, 'FST_AUTHX_INVALID_TOKEN', `kid ${kid} names no key: refused`)
  }
  await kidApp.close()

  const rsaOld = keyPair('RS256')
  const es = keyPair('ES256')
  const signerOld = await build({ algorithm: 'RS256', privateKey: rsaOld.privateKey })
  const rotated = await build({ algorithm: 'ES256', decodeAlgorithms: ['ES256', 'RS256'], privateKey: es.privateKey, previousPublicKeys: [rsaOld.publicKey], jwksRoute: '/.well-known/jwks.json' })
  t.equal((await rotated.inject({ url: '/access', headers: bearer(signerOld.createAccessToken('a')) })).statusCode, 200, 'a token of the previous RSA key is accepted by kid')
  const jwks = rotated.authx.jwks()
  t.equal(jwks.keys.length, 2)
  t.same(jwks.keys.map(k => [k.kty, k.alg, k.use]), [['EC', 'ES256', 'sig'], ['RSA', 'RS256', 'sig']])
  t.ok(jwks.keys.every(k => !('d' in k) && !('p' in k) && !('q' in k)), 'no private members')
  t.equal(jwks.keys[0].kid, headerOf(rotated.createAccessToken('a')).kid, 'published kid matches token kid')
  const res = await rotated.inject({ url: '/.well-known/jwks.json' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), jwks, 'jwksRoute serves the same document')
  t.same((await build()).authx.jwks(), { keys: [] }, 'HMAC: no keys')
  await signerOld.close(); await rotated.close()
})
