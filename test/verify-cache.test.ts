import t from 'tap'
import { VerifyCache } from '../lib/verify-cache'
import { SECRET, bearer, build, tamperSignature, testClock } from './helpers/app'

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

t.test('a hit is the very same token string: a shared end is not enough', async t => {
  const cache = new VerifyCache(10, 0, () => clock)
  const tail = 'S'.repeat(40)
  const token = `header.payload.${tail}`
  cache.set(token, { sub: 'a', nested: { deep: [1, { x: 2 }] } })
  t.equal(cache.get(`header.PAYLOAD.${tail}`), undefined, 'another token ending in the same signature: a miss')
  t.equal(cache.get(`header.payload.${tail} `), undefined, 'another spelling: a miss')
  t.equal(cache.get(`X${token}`), undefined, 'a longer token with the same end: a miss')
  const hit = cache.get(token) as Record<string, any>
  t.same(hit, { sub: 'a', nested: { deep: [1, { x: 2 }] } }, 'the claims')
  hit.nested.deep[1].x = 99
  t.equal((cache.get(token) as Record<string, any>).nested.deep[1].x, 2, 'nested claims are copied deeply')
  t.equal(Object.getPrototypeOf(hit), Object.prototype, 'a plain object')
  cache.set(`other.payload.${tail}`, { sub: 'b' })
  t.same(cache.get(`other.payload.${tail}`), { sub: 'b' }, 'the newer token with that end is kept')
  t.equal(cache.get(token), undefined, 'and the older one is a miss now (verified again in full)')
})

t.test('a __proto__ claim stays a claim in every copy', async t => {
  const cache = new VerifyCache(10, 0, () => clock)
  const claims = JSON.parse('{"sub":"a","__proto__":{"polluted":true},"data":{"__proto__":{"polluted":true}}}')
  cache.set('t'.repeat(50), claims)
  const hit = cache.get('t'.repeat(50)) as Record<string, any>
  t.equal(Object.getPrototypeOf(hit), Object.prototype, 'the copy keeps its prototype')
  t.equal(hit.polluted, undefined, 'nothing inherited from the claim')
  t.same(Object.getOwnPropertyDescriptor(hit, '__proto__')?.value, { polluted: true }, 'the claim is an own data property')
  t.equal(Object.getPrototypeOf(hit.data), Object.prototype)
  t.equal(hit.data.polluted, undefined)
  t.equal(({} as any).polluted, undefined, 'Object.prototype untouched')
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
  t.equal((await app.inject({ url: '/access', headers: bearer(tamperSignature(token)) })).json().code, 'FST_AUTHX_INVALID_TOKEN', 'a forged variant with the same cache key (the token\'s end) is not served from the cache')
  await app.close()
  const sized = await build({ secret: SECRET, verifyCache: 10 })
  t.equal((await sized.inject({ url: '/access', headers: bearer(sized.createAccessToken('a')) })).statusCode, 200, 'a cache size')
  await sized.close()
})
