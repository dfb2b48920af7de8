import t from 'tap'
import { createSigner } from 'fast-jwt'
import { uuidv7, uuidv7Time } from '../lib/uuidv7'
import { SECRET, bearer, build, hs256, keyPair, testClock } from './helpers/app'

const decode = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())
const header = (token: string) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString())
const now = () => Math.floor(Date.now() / 1000)

t.test('access token claims', async t => {
  const app = await build()
  const token = app.createAccessToken('alice', { fresh: true, scopes: ['read'], data: { role: 'admin' } })
  const p = decode(token)
  t.equal(p.sub, 'alice')
  t.equal(p.type, 'access')
  t.equal(p.fresh, true)
  t.match(p.jti, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'jti is a random UUID (v7)')
  t.ok(Number.isInteger(p.iat) && Math.abs(p.iat - now()) <= 1, 'iat is now, in whole seconds')
  t.equal(p.nbf, p.iat, 'nbf = iat')
  t.equal(p.exp, p.iat + 900, 'default access lifetime is 900 s')
  t.same(p.scopes, ['read'])
  t.equal(p.role, 'admin', 'data claims are top-level')
  t.notOk('csrf' in p, 'no csrf claim when cookies are not a location')
  t.notOk('fam' in p, 'no family outside pairs')
  t.equal(header(token).alg, 'HS256')
  t.notOk('kid' in header(token), 'HMAC tokens carry no kid unless keyId is set')
  t.equal(decode(app.createAccessToken('bob')).fresh, false, 'fresh defaults to false')
  await app.close()
})

t.test('refresh token claims and the pair', async t => {
  const app = await build()
  const r = decode(app.createRefreshToken('alice', { fresh: true } as any))
  t.equal(r.type, 'refresh')
  t.notOk('fresh' in r, 'refresh tokens have no fresh claim')
  t.equal(r.exp - r.iat, 20 * 86400, 'default refresh lifetime is 20 days')
  const pair = app.createTokenPair('alice', { fresh: true, scopes: ['a'] })
  t.equal(pair.token_type, 'bearer')
  const a = decode(pair.access_token)
  const b = decode(pair.refresh_token)
  t.equal(a.type, 'access')
  t.equal(b.type, 'refresh')
  t.equal(a.fresh, true)
  t.ok(typeof a.fam === 'string' && a.fam === b.fam, 'both tokens of a pair share a family')
  t.not(a.jti, b.jti)
  t.same(b.scopes, ['a'])
  await app.close()
})

t.test('data can never override a registered claim', async t => {
  const app = await build({ secret: SECRET, identityClaim: 'uid' })
  for (const claim of ['sub', 'type', 'jti', 'iat', 'nbf', 'exp', 'fresh', 'csrf', 'scopes', 'iss', 'aud', 'fam', 'uid']) {
    t.throws(() => app.createAccessToken('alice', { data: { [claim]: 'x' } }), { message: new RegExp(`'${claim}'`) }, `data.${claim} throws`)
  }
  t.throws(() => app.createAccessToken('' as string), { code: 'FST_AUTHX_BAD_ARGUMENT' }, 'empty subject throws')
  t.throws(() => app.createAccessToken(42 as unknown as string), { code: 'FST_AUTHX_BAD_ARGUMENT' }, 'non-string subject throws')
  t.throws(() => app.createAccessToken('a', { headers: { alg: 'none' } }), { code: 'FST_AUTHX_BAD_ARGUMENT' }, 'headers cannot set alg')
  await app.close()
})

t.test('lifetimes: configured, per call, and false', async t => {
  const app = await build({ secret: SECRET, accessTokenExpires: '5m', refreshTokenExpires: 3600, encodeNbf: false })
  const a = decode(app.createAccessToken('a'))
  t.equal(a.exp - a.iat, 300)
  t.notOk('nbf' in a, 'encodeNbf: false writes no nbf')
  t.equal(decode(app.createRefreshToken('a')).exp - a.iat, 3600)
  t.equal(decode(app.createAccessToken('a', { expiresIn: '1h' })).exp - a.iat, 3600, 'per call, up to the longest configured lifetime')
  t.throws(() => app.createAccessToken('a', { expiresIn: '2h' }), /longest configured lifetime/, 'not beyond it')
  t.throws(() => app.createAccessToken('a', { expiresIn: false }), /longest configured lifetime/, 'expiresIn: false only where a lifetime is configured false (a token must not outlive its revocation)')
  t.throws(() => app.createAccessToken('a', { expiresIn: 'eventually' }), { code: 'FST_AUTHX_BAD_OPTIONS' })
  await app.close()

  const open = await build({ secret: SECRET, accessTokenExpires: false })
  const token = open.createAccessToken('a')
  t.notOk('exp' in decode(token), 'accessTokenExpires: false writes no exp')
  t.equal((await open.inject({ url: '/access', headers: bearer(token) })).statusCode, 200, 'and such a token is accepted')
  const noExpRefresh = open.createRefreshToken('a', { expiresIn: false })
  t.equal((await open.inject({ url: '/refresh', headers: bearer(noExpRefresh) })).json().code, 'FST_AUTHX_INVALID_TOKEN', 'exp is still required for refresh tokens')
  await open.close()
})

t.test('issuer, audience and their decode counterparts', async t => {
  const app = await build({ secret: SECRET, issuer: 'https://auth.example', audience: ['api', 'web'], decodeIssuer: 'https://auth.example', decodeAudience: 'api' })
  const token = app.createAccessToken('a')
  t.equal(decode(token).iss, 'https://auth.example')
  t.same(decode(token).aud, ['api', 'web'])
  t.equal((await app.inject({ url: '/access', headers: bearer(token) })).statusCode, 200)
  const other = app.createAccessToken('a', { audience: 'billing' })
  t.equal(decode(other).aud, 'billing', 'audience per call')
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

t.test('identityClaim carries the subject', async t => {
  const app = await build({ secret: SECRET, identityClaim: 'user_id' })
  const token = app.createAccessToken('42')
  const p = decode(token)
  t.equal(p.user_id, '42')
  t.notOk('sub' in p)
  const res = await app.inject({ url: '/access', headers: bearer(token) })
  t.equal(res.json().payload.user_id, '42')
  const other = await build({ secret: SECRET })
  t.equal((await app.inject({ url: '/access', headers: bearer(other.createAccessToken('42')) })).json().code, 'FST_AUTHX_INVALID_TOKEN', 'a token without the identity claim is refused')
  await app.close(); await other.close()
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

t.test('every algorithm family signs and verifies; verify-only instances verify', async t => {
  for (const alg of ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const) {
    const hmac = alg.startsWith('HS')
    const pair = hmac ? undefined : keyPair(alg)
    const app = await build(hmac ? { secret: SECRET, algorithm: alg } : { algorithm: alg, privateKey: pair!.privateKey })
    const token = app.createAccessToken('a')
    t.equal(header(token).alg, alg, `${alg} signs`)
    t.equal((await app.inject({ url: '/access', headers: bearer(token) })).statusCode, 200, `${alg} verifies`)
    if (!hmac) {
      t.match(header(token).kid, /^[A-Za-z0-9_-]{43}$/, `${alg} tokens carry the RFC 7638 thumbprint as kid`)
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

t.test('decodeAlgorithms is the allow-list', async t => {
  const hs512 = await build({ secret: SECRET, algorithm: 'HS512' })
  const hs256 = await build({ secret: SECRET })
  const both = await build({ secret: SECRET, decodeAlgorithms: ['HS256', 'HS512'] })
  const token = hs512.createAccessToken('a')
  t.equal((await hs256.inject({ url: '/access', headers: bearer(token) })).json().code, 'FST_AUTHX_INVALID_TOKEN', 'HS512 refused by an HS256-only verifier (never a 500)')
  t.equal((await both.inject({ url: '/access', headers: bearer(token) })).statusCode, 200, 'allowed when listed')
  await hs512.close(); await hs256.close(); await both.close()
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
  t.equal(header(token).kid, 'v2', 'keyId is written')
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
  t.equal(jwks.keys[0].kid, header(rotated.createAccessToken('a')).kid, 'published kid matches token kid')
  const res = await rotated.inject({ url: '/.well-known/jwks.json' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), jwks, 'jwksRoute serves the same document')
  t.same((await build()).authx.jwks(), { keys: [] }, 'HMAC: no keys')
  await signerOld.close(); await rotated.close()
})

t.test('uuidv7 carries its creation time', async t => {
  const at = Date.UTC(2026, 10, 27, 12, 0, 0, 123)
  const id = uuidv7(at)
  t.equal(uuidv7Time(id), at)
  t.equal(uuidv7Time('not-a-uuid'), undefined)
  t.equal(uuidv7Time(crypto.randomUUID()), undefined, 'a v4 UUID has no time')
  const ids = new Set(Array.from({ length: 5000 }, () => uuidv7(at)))
  t.equal(ids.size, 5000, 'no collisions, even within one millisecond')
})

t.test('verifyCache: cached verification, revocation still checked, cached claims never shared', async t => {
  let seen: any
  const clock = testClock()
  const app = await build({ secret: SECRET, verifyCache: true, now: clock.now }, app => {
    app.get('/mutate', { onRequest: app.requireAccess }, async req => {
      seen = JSON.parse(JSON.stringify(req.tokenPayload))
      ;(req.tokenPayload as any).sub = 'mallory'
      ;(req.tokenPayload.scopes as string[]).push('admin')
      return 'ok'
    })
  })
  const token = app.createAccessToken('alice', { scopes: ['read'] })
  for (let i = 0; i < 3; i++) {
    t.equal((await app.inject({ url: '/mutate', headers: bearer(token) })).statusCode, 200, `hit ${i}`)
    t.equal(seen.sub, 'alice', 'a handler\'s mutation never reaches the next request')
    t.same(seen.scopes, ['read'])
  }
  await app.authx.revokeToken(token)
  t.equal((await app.inject({ url: '/access', headers: bearer(token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'revocation is checked on a cache hit')
  const short = app.createAccessToken('bob', { expiresIn: 1 })
  t.equal((await app.inject({ url: '/access', headers: bearer(short) })).statusCode, 200)
  clock.advance(1000)
  t.equal((await app.inject({ url: '/access', headers: bearer(short) })).json().code, 'FST_AUTHX_TOKEN_EXPIRED', 'a cached token still expires')
  t.equal((await app.inject({ url: '/access', headers: bearer(token.slice(0, -2) + 'AA') })).statusCode, 401, 'a forged variant is not served from the cache')
  await app.close()
  const sized = await build({ secret: SECRET, verifyCache: 10 })
  t.equal((await sized.inject({ url: '/access', headers: bearer(sized.createAccessToken('a')) })).statusCode, 200, 'a cache size')
  await sized.close()
})
