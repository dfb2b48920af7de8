import t from 'tap'
import { SECRET, bearer, build, payloadOf, headerOf } from './helpers/app'

// lib/signer.ts: the claims every minted token carries, lifetimes, and what `data` and `headers` may not set.

const now = () => Math.floor(Date.now() / 1000)

t.test('access token claims', async t => {
  const app = await build()
  const token = app.createAccessToken('alice', { fresh: true, scopes: ['read'], data: { role: 'admin' } })
  const p = payloadOf(token)
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
  t.equal(headerOf(token).alg, 'HS256')
  t.notOk('kid' in headerOf(token), 'HMAC tokens carry no kid unless keyId is set')
  t.equal(payloadOf(app.createAccessToken('bob')).fresh, false, 'fresh defaults to false')
  await app.close()
})

t.test('refresh token claims and the pair', async t => {
  const app = await build()
  const r = payloadOf(app.createRefreshToken('alice', { fresh: true } as any))
  t.equal(r.type, 'refresh')
  t.notOk('fresh' in r, 'refresh tokens have no fresh claim')
  t.equal(r.exp - r.iat, 20 * 86400, 'default refresh lifetime is 20 days')
  const pair = app.createTokenPair('alice', { fresh: true, scopes: ['a'] })
  t.equal(pair.token_type, 'bearer')
  const a = payloadOf(pair.access_token)
  const b = payloadOf(pair.refresh_token)
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
  const a = payloadOf(app.createAccessToken('a'))
  t.equal(a.exp - a.iat, 300)
  t.notOk('nbf' in a, 'encodeNbf: false writes no nbf')
  t.equal(payloadOf(app.createRefreshToken('a')).exp - a.iat, 3600)
  t.equal(payloadOf(app.createAccessToken('a', { expiresIn: '1h' })).exp - a.iat, 3600, 'per call, up to the longest configured lifetime')
  t.throws(() => app.createAccessToken('a', { expiresIn: '2h' }), /longest configured lifetime/, 'not beyond it')
  t.throws(() => app.createAccessToken('a', { expiresIn: false }), /longest configured lifetime/, 'expiresIn: false only where a lifetime is configured false (a token must not outlive its revocation)')
  t.throws(() => app.createAccessToken('a', { expiresIn: 'eventually' }), { code: 'FST_AUTHX_BAD_OPTIONS' })
  await app.close()

  const open = await build({ secret: SECRET, accessTokenExpires: false })
  const token = open.createAccessToken('a')
  t.notOk('exp' in payloadOf(token), 'accessTokenExpires: false writes no exp')
  t.equal((await open.inject({ url: '/access', headers: bearer(token) })).statusCode, 200, 'and such a token is accepted')
  const noExpRefresh = open.createRefreshToken('a', { expiresIn: false })
  t.equal((await open.inject({ url: '/refresh', headers: bearer(noExpRefresh) })).json().code, 'FST_AUTHX_INVALID_TOKEN', 'exp is still required for refresh tokens')
  await open.close()
})

t.test('identityClaim carries the subject', async t => {
  const app = await build({ secret: SECRET, identityClaim: 'user_id' })
  const token = app.createAccessToken('42')
  const p = payloadOf(token)
  t.equal(p.user_id, '42')
  t.notOk('sub' in p)
  const res = await app.inject({ url: '/access', headers: bearer(token) })
  t.equal(res.json().payload.user_id, '42')
  const other = await build({ secret: SECRET })
  t.equal((await app.inject({ url: '/access', headers: bearer(other.createAccessToken('42')) })).json().code, 'FST_AUTHX_INVALID_TOKEN', 'a token without the identity claim is refused')
  await app.close(); await other.close()
})
