import t from 'tap'
import { VerifyCache } from '../lib/verify-cache'
import { SECRET, bearer, build, testClock } from './helpers/app'

const clock = 1_800_000_000_000
const now = () => clock / 1000

t.test('hits are private copies; expiry with leeway; bounded', async t => {
  const cache = new VerifyCache(2, 5, () => clock)
  t.equal(cache.get('a'), undefined, 'miss')
  cache.set('a', { sub: 'a', exp: now() + 60, scopes: ['read'] })
  const hit = cache.get('a') as Record<string, any>
  hit.scopes.push('admin')
  t.same((cache.get('a') as Record<string, any>).scopes, ['read'], 'a hit cannot change the cache')
  cache.set('late', { sub: 'l', exp: now() - 2 })
  t.not(cache.get('late'), 'expired', 'within leeway: still valid')
  cache.set('edge', { sub: 'e', exp: now() - 5 })
  t.equal(cache.get('edge'), 'expired', 'exactly at exp plus leeway: expired (RFC 7519: valid only before exp)')
  cache.set('gone', { sub: 'g', exp: now() - 10 })
  t.equal(cache.get('gone'), 'expired', 'beyond leeway: expired')
  t.equal(cache.get('gone'), undefined, 'and dropped')
  const small = new VerifyCache(2, 0, () => clock)
  small.set('1', { sub: '1' })
  small.set('2', { sub: '2' })
  small.set('3', { sub: '3' })
  t.equal(small.get('1'), undefined, 'the oldest entry left')
  t.same(small.get('3'), { sub: '3' })
  t.same(small.get('2'), { sub: '2' }, 'no exp: kept until evicted')
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
