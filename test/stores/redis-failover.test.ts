import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { Cluster } from 'ioredis'
import authx, { RedisStore } from '../../lib/index'
import { SECRET, bearer } from '../helpers/app'
import { ask, ownerOf, redisServerOrSkip, startCluster, type PrivateCluster } from '../helpers/redis-servers'

// A Redis Cluster of this test's own (3 masters, 3 replicas, node timeout 1 s), never the CI cluster:
// a master is killed (kill -9) and its replica takes over.

/** A Cluster client bounded as the README asks, connected to every master. */
async function connect (t: tap.Test, cluster: PrivateCluster): Promise<Cluster> {
  const client = new Cluster(cluster.nodes, {
    enableOfflineQueue: false,
    redisOptions: { commandTimeout: 500, socketTimeout: 500, connectTimeout: 500 },
    clusterRetryStrategy: times => Math.min(100 * times, 1000)
  })
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  await new Promise<void>((resolve, reject) => { client.once('ready', resolve); client.once('end', () => { reject(new Error('cluster ended')) }) })
  await Promise.all(client.nodes('master').map(async node => await node.ping()))
  return client
}

/** The subject tag's slot, as Redis computes it. */
async function slotOf (cluster: PrivateCluster, key: string): Promise<number> {
  return await ask(cluster.servers[0].port, 'CLUSTER', 'KEYSLOT', key) as number
}

async function app (client: Cluster, options: Record<string, unknown>): Promise<{ app: FastifyInstance, errors: string[] }> {
  const errors: string[] = []
  const instance = Fastify({ logger: { level: 'error', stream: { write: (line: string) => { errors.push(line) } } } })
  await instance.register(authx, { secret: SECRET, ...options })
  instance.get('/protected', { onRequest: instance.requireAccess }, async () => 'ok')
  instance.post('/logout', { onRequest: instance.requireAccess }, async request => { await instance.authx.revokeToken(request.tokenPayload); return 'bye' })
  await instance.ready()
  t.teardown(() => instance.close())
  return { app: instance, errors }
}

t.test('Redis Cluster failover', async t => {
  if (!redisServerOrSkip(t)) return
  const cluster = await startCluster(t)
  const client = await connect(t, cluster)

  // Two subjects on different masters.
  const subjects: Array<{ sub: string, slot: number }> = []
  for (let i = 0; subjects.length < 2 && i < 100; i++) {
    const sub = `user:{${i}}:ü`
    const slot = await slotOf(cluster, `authx:{${sub.replace(/[{}]/g, c => c === '{' ? '%7B' : '%7D')}}:all`)
    const { master } = await ownerOf(cluster, slot)
    if (subjects.length === 0 || (await ownerOf(cluster, subjects[0].slot)).master !== master) subjects.push({ sub, slot })
  }

  t.test('waitForReplicas waits on the master that took the write', async t => {
    const store = new RedisStore({ client, prefix: 'authx:', waitForReplicas: { replicas: 1, timeout: 100 } })
    const [a, b] = subjects
    const { replica } = await ownerOf(cluster, a.slot)
    replica.pause() // a's master gets no acknowledgement; b's master still does
    try {
      await t.rejects(store.revokeToken({ sub: a.sub, jti: 'wait-1' }, 60), { name: 'ReplicaWaitError', message: /0 of 1 replicas confirmed a write within 100 ms/ },
        'a write on the master whose replica is stopped is refused')
      await t.resolves(store.revokeToken({ sub: b.sub, jti: 'wait-1' }, 60), 'a write on another master is confirmed by its own replica')
    } finally {
      replica.resume()
    }
  })

  t.test('kill -9 a master under load, right after a revocation resolved', async t => {
    const [{ sub, slot }] = subjects
    const { master, replica } = await ownerOf(cluster, slot)
    const { app: instance, errors } = await app(client, {
      store: new RedisStore({ client, waitForReplicas: { replicas: 1, timeout: 200 } }),
      storeTimeout: 500
    })
    const good = instance.createAccessToken(sub)
    const revoked = instance.createAccessToken(sub)
    t.equal((await instance.inject({ url: '/protected', headers: bearer(good) })).statusCode, 200)
    t.equal((await instance.inject({ method: 'POST', url: '/logout', headers: bearer(revoked) })).statusCode, 200, 'the revocation resolved: a replica confirmed it')
    await master.kill()
    const killed = performance.now()

    // Bounded load: 10 requests at a time (half with the revoked token), for at most 30 s, and 20
    // batches more once the good token is accepted again.
    const seen = new Map<string, number>()
    let recovered = -1
    let after = 0
    while (performance.now() - killed < 30_000 && after < 20) {
      const batch = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
        const token = i % 2 === 0 ? good : revoked
        const res = await instance.inject({ url: '/protected', headers: bearer(token) })
        return { which: token === good ? 'good' : 'revoked', status: res.statusCode }
      }))
      for (const { which, status } of batch) seen.set(`${which} ${status}`, (seen.get(`${which} ${status}`) ?? 0) + 1)
      if (recovered < 0 && batch.some(r => r.which === 'good' && r.status === 200)) recovered = performance.now() - killed
      if (recovered >= 0) after++
      else await new Promise(resolve => setTimeout(resolve, 20))
    }
    const outcomes = Object.fromEntries(seen)
    t.comment(`failover: first 200 ${recovered.toFixed(0)} ms after kill -9 of the master (node timeout 1000 ms); outcomes ${JSON.stringify(outcomes)}`)
    t.ok(recovered >= 0 && recovered < 30_000, `recovered by itself, ${recovered.toFixed(0)} ms after the kill`)
    t.equal(outcomes['revoked 200'], undefined, 'the revoked token was never accepted')
    t.ok([...seen.keys()].every(k => /^(good (200|503)|revoked (401|503))$/.test(k)), `only 200, 401 and 503: ${Object.keys(outcomes).join(', ')}`)
    t.ok((outcomes['good 503'] ?? 0) > 0, 'while the replica took over, requests failed closed (503)')
    t.match(String(await ask(replica.port, 'ROLE')), /^master/, 'the replica is the master now')
    const res = await instance.inject({ url: '/protected', headers: bearer(revoked) })
    t.equal(res.json().code, 'FST_AUTHX_REVOKED_TOKEN', 'the revocation survived on the promoted replica')
    t.notOk(errors.some(l => l.includes(sub) || l.includes(good) || l.includes(revoked)), 'no subject or token in the error logs')

    // The promoted master has no replica yet: a write that must wait for one fails closed.
    const next = instance.createAccessToken(sub)
    t.equal((await instance.inject({ method: 'POST', url: '/logout', headers: bearer(next) })).statusCode, 503, 'no replica left: a revocation is refused (503), not silently unreplicated')
    // The old master comes back (same port, same nodes.conf) as the new master's replica.
    await master.start()
    let status = 0
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await instance.inject({ method: 'POST', url: '/logout', headers: bearer(instance.createAccessToken(sub)) })).statusCode
      if (status !== 200) await new Promise(resolve => setTimeout(resolve, 100))
    }
    t.equal(status, 200, 'once the old master rejoins as a replica, revocations are confirmed again')
  })
})
