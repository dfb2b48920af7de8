import t from 'tap'
import { createSigner } from 'fast-jwt'
import { SECRET, bearer, build, hs256, payloadOf } from './helpers/app'

// lib/verifier.ts: what a token must be to verify (algorithm allow-list, issuer and audience, time with
// leeway, the claims the plugin insists on), whatever signed it.

const now = () => Math.floor(Date.now() / 1000)

t.test('issuer, audience and their decode counterparts', async t => {
  const app = await build({ secret: SECRET, issuer: 'https://auth.example', audience: ['api', 'web'], decodeIssuer: 'https://auth.example', decodeAudience: 'api' })
  const token = app.createAccessToken('a')
  t.equal(payloadOf(token).iss, 'https://auth.example')
  t.same(payloadOf(token).aud, ['api', 'web'])
  t.equal((await app.inject({ url: '/access', headers: bearer(token) })).statusCode, 200)
  const other = app.createAccessToken('a', { audience: 'billing' })
  t.equal(payloadOf(other).aud, 'billing', 'audience per call')
  t.equal((await app.inject({ url: '/access', headers: bearer(other) })).json().code, 'FST_AUTHX_INVALID_TOKEN', 'wrong aud refused')
  await app.close()

  const plain = await build({ secret: SECRET })
  const noIss = plain.createAccessToken('a')
  const strict = await build({ secret: SECRET, decodeIssuer: ['https://auth.example'] })
  t.equal((await strict.inject({ url: '/access', headers: bearer(noIss) })).json().code, 'FST_AUTHX_INVALID_TOKEN', 'a required iss that is missing is refused')
  const strictAud = await build({ secret: SECRET, decodeAudience: ['api'] })
  t.equal((await strictAud.inject({ url: '/access', headers: bearer(noIss) })).json().code, 'FST_AUTHX_INVALID_TOKEN', 'a required aud that is missing is refused')
  await plain.close(); await strict.close(); await strictAud.close()
})

t.test('leeway is in seconds (fast-jwt counts milliseconds)', async t => {
  const sign = createSigner({ key: SECRET, algorithm: 'HS256' })
  const iat = now() - 100
  const expired = sign({ sub: 'a', type: 'access', jti: 'j1', iat, exp: now() - 3 })
  const strict = await build({ secret: SECRET })
  const lenient = await build({ secret: SECRET, leeway: 30 })
  t.equal((await strict.inject({ url: '/access', headers: bearer(expired) })).json().code, 'FST_AUTHX_TOKEN_EXPIRED')
  t.equal((await lenient.inject({ url: '/access', headers: bearer(expired) })).statusCode, 200, 'expired 3 s ago, within 30 s of leeway')
  const longExpired = sign({ sub: 'a', type: 'access', jti: 'j1', iat, exp: now() - 60 })
  t.equal((await lenient.inject({ url: '/access', headers: bearer(longExpired) })).json().code, 'FST_AUTHX_TOKEN_EXPIRED', 'beyond leeway is expired')
  const early = sign({ sub: 'a', type: 'access', jti: 'j1', iat: now(), nbf: now() + 10, exp: now() + 100 })
  t.equal((await strict.inject({ url: '/access', headers: bearer(early) })).json().code, 'FST_AUTHX_INVALID_TOKEN', 'future nbf is invalid, not a 500')
  t.equal((await lenient.inject({ url: '/access', headers: bearer(early) })).statusCode, 200, 'nbf within leeway')
  await strict.close(); await lenient.close()
})

t.test('claims the verifier insists on', async t => {
  const app = await build()
  const base = { sub: 'a', type: 'access', jti: 'j', iat: now(), exp: now() + 60 }
  const cases: Array<[string, Record<string, unknown>]> = [
    ['no type', { ...base, type: undefined }],
    ['odd type', { ...base, type: 'Access' }],
    ['type id', { ...base, type: 'id' }],
    ['no sub', { ...base, sub: undefined }],
    ['empty sub', { ...base, sub: '' }],
    ['numeric sub', { ...base, sub: 42 }],
    ['no jti', { ...base, jti: undefined }],
    ['empty jti', { ...base, jti: '' }],
    ['no exp', { ...base, exp: undefined }],
    ['string exp', { ...base, exp: String(now() + 60) }],
    ['scopes not an array', { ...base, scopes: 'admin' }],
    ['scopes with a number', { ...base, scopes: ['a', 1] }]
  ]
  for (const [name, payload] of cases) {
    const res = await app.inject({ url: '/access', headers: bearer(hs256(payload)) })
    t.equal(res.statusCode, 401, name)
    t.equal(res.json().code, 'FST_AUTHX_INVALID_TOKEN', name)
  }
  // exp = 1e400 is Infinity once parsed: a token that would never expire.
  const infinite = hs256(`{"sub":"a","type":"access","jti":"j","iat":${now()},"exp":1e400}`)
  t.equal((await app.inject({ url: '/access', headers: bearer(infinite) })).statusCode, 401, 'non-finite exp refused')
  t.equal((await app.inject({ url: '/access', headers: bearer(hs256(base)) })).statusCode, 200, 'the same token, well-formed, passes')
  await app.close()
})

t.test('decodeAlgorithms is the allow-list', async t => {
  const hs512 = await build({ secret: SECRET, algorithm: 'HS512' })
  const hs256 = await build({ secret: SECRET })
  const both = await build({ secret: SECRET, decodeAlgorithms: ['HS256', 'HS512'] })
  const token = hs512.createAccessToken('a')
  t.equal((await hs256.inject({ url: '/access', headers: bearer(token) })).json().code, 'FST_AUTHX_INVALID_TOKEN', 'HS512 refused by an HS256-only verifier (never a 500)')
  t.equal((await both.inject({ url: '/access', headers: bearer(token) })).statusCode, 200, 'allowed when listed')
  await hs512.close(); await hs256.close(); await both.close()
})
