import t from 'tap'
import { VerifyCache } from '../lib/verify-cache'

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
