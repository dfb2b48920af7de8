import t from 'tap'
import { RedisStore } from '../../lib/stores/redis'
import { clusterOrSkip, deleteClusterKeys, uniquePrefix } from '../helpers/redis'
import { storeConformance, type StoreClock } from './conformance'

// RedisStore over a real Redis Cluster (3 masters, 3 replicas: `.ci/redis-cluster.sh`). Every script of
// the suite touches one subject's keys, which share a slot; the odd subjects ({, }, :, non-ASCII, lone
// surrogates) must never split a hash tag, or Redis would answer CROSSSLOT.

const redisClock = (): StoreClock => ({
  now: Date.now,
  advance: async ms => { await new Promise(resolve => setTimeout(resolve, ms)) }
})

t.test('RedisStore over a Redis Cluster', async t => {
  const cluster = await clusterOrSkip(t)
  if (cluster === null) return
  const run = uniquePrefix('authx-cluster')
  t.teardown(() => deleteClusterKeys(cluster, run))
  let stores = 0

  t.test('conformance', async t => {
    storeConformance(t, async clock => new RedisStore({ client: cluster, prefix: `${run}${++stores}:`, now: clock.now }), redisClock)
  })

  t.test('conformance with waitForReplicas: every write confirmed by the replica of the master that took it', async t => {
    storeConformance(t, async clock => new RedisStore({
      client: cluster, prefix: `${run}${++stores}:`, now: clock.now, waitForReplicas: { replicas: 1, timeout: 2000 }
    }), redisClock)
  })

  t.test('a subject\'s keys land in one slot, and subjects spread over the masters', async t => {
    const prefix = `${run}slots:`
    const store = new RedisStore({ client: cluster, prefix })
    const masters = new Set<string>()
    for (let i = 0; i < 30; i++) {
      const sub = `user:${i}:{x}ü`
      await store.revokeToken({ sub, jti: 'j1' }, 60)
      await store.revokeFamily(sub, 'f1', 60)
      await store.revokeAllSessions(sub, 1, 60)
      await store.redeem({ sub, jti: 'j2', fam: 'f1' }, Date.now(), 60, 60)
    }
    for (const node of cluster.nodes('master')) {
      const keys: string[] = []
      for await (const batch of node.scanStream({ match: `${prefix}*`, count: 1000 })) keys.push(...(batch as string[]))
      if (keys.some(k => !k.startsWith(`${prefix}family:`))) masters.add(`${node.options.host}:${node.options.port}`)
      const slots = new Map<string, Set<number>>()
      for (const key of keys.filter(k => !k.startsWith(`${prefix}family:`))) {
        const tag = key.slice(prefix.length, key.indexOf('}') + 1)
        const slot = await node.cluster('KEYSLOT', key) as number
        slots.set(tag, (slots.get(tag) ?? new Set()).add(slot))
      }
      for (const [tag, set] of slots) if (set.size !== 1) t.fail(`${tag}: keys in ${set.size} slots`)
    }
    t.equal(masters.size, 3, 'thirty subjects use all three masters')
  })
})
