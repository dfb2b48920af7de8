import t from 'tap'
import { createSigner } from 'fast-jwt'
import { thumbprint } from '../lib/keys'
import { SECRET, bearer, build, headerOf, keyPair, testClock } from './helpers/app'
import { rfc7638 } from './helpers/jwk'

// lib/keys.ts: keys, their kids (RFC 7638 thumbprints for public keys), previous keys and the JWKS.

const now = () => Math.floor(Date.now() / 1000)

// RFC 7638 §3.1: the example RSA key and its thumbprint (the "alg" and "kid" members are not hashed).
const RFC7638_EXAMPLE = {
  kty: 'RSA',
  n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
  e: 'AQAB',
  alg: 'RS256',
  kid: '2011-04-29'
}
const RFC7638_THUMBPRINT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'

t.test('thumbprint is RFC 7638: the example of §3.1, and every key type', async t => {
  t.equal(thumbprint(RFC7638_EXAMPLE), RFC7638_THUMBPRINT, 'the RFC\'s example key gives the RFC\'s thumbprint')
  t.equal(rfc7638(RFC7638_EXAMPLE), RFC7638_THUMBPRINT, 'and so does the tests\' own computation (helpers/jwk.ts)')
  const { n, e } = RFC7638_EXAMPLE
  t.equal(thumbprint({ n, kty: 'RSA', e }), RFC7638_THUMBPRINT, 'members given in another order, without the optional ones: the same')
  t.not(thumbprint({ ...RFC7638_EXAMPLE, e: 'AQAC' }), RFC7638_THUMBPRINT, 'another exponent: another thumbprint')
  for (const alg of ['RS256', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed448']) {
    const jwk = keyPair(alg).publicKey.export({ format: 'jwk' })
    t.equal(thumbprint(jwk), rfc7638(jwk), `${alg} (${String(jwk.kty)} ${String(jwk.crv ?? '')}): the required members only, in order`)
  }
})

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
