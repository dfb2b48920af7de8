import t from 'tap'
import Fastify from 'fastify'
import type { Cluster, Redis } from 'ioredis'
import authx, { RedisStore } from '../../lib/index'
import { SECRET, bearer } from '../helpers/app'
import { clusterOrSkip, deleteClusterKeys, deleteKeys, redisOrSkip, uniquePrefix } from '../helpers/redis'

// What a request costs in Redis commands, counted where they leave for a server (each node's
// connection), on a single Redis and on a Cluster. A guarded request: one command (MGET of the
// subject's keys). A rotation: that MGET, then the redeem script and the family index (sent together),
// then the session touch and the family index again (README, "Redis at scale").

type Sent = Array<{ name: string, node: string }>

/** Records every command sent on these connections (one per node). */
function count (connections: Redis[]): { sent: Sent, stop: () => void } {
  const sent: Sent = []
  const restore: Array<() => void> = []
  for (const redis of connections) {
    const original = redis.sendCommand
    const node = `${redis.options.host ?? ''}:${redis.options.port ?? ''}`
    redis.sendCommand = function (command, ...rest) {
      sent.push({ name: command.name, node })
      return original.call(this, command, ...rest)
    }
    restore.push(() => { redis.sendCommand = original })
  }
  return { sent, stop: () => { for (const r of restore) r() } }
}

async function measure (t: tap.Test, client: Redis | Cluster, connections: () => Redis[], prefix: string, waitForReplicas?: { replicas: number, timeout: number }) {
  const app = Fastify()
  await app.register(authx, { secret: SECRET, store: new RedisStore({ client, prefix, waitForReplicas }), rotation: { reuseGraceSeconds: 0 }, storeTimeout: 2000 })
  app.get('/protected', { onRequest: app.requireAccess }, async () => 'ok')
  app.post('/refresh', { onRequest: app.requireRefresh }, async request => await app.authx.rotateRefreshToken(request.tokenPayload))
  await app.ready()
  t.teardown(() => app.close())

  const sub = 'user:{1}:ü'
  // warm-up: slots known, scripts loaded on the connection this subject's slot lives on
  const warm = await app.authx.createSession(sub)
  t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: bearer(warm.refresh_token) })).statusCode, 200)
  const pair = await app.authx.createSession(sub)

  const guarded = count(connections())
  const res = await app.inject({ url: '/protected', headers: bearer(pair.access_token) })
  guarded.stop()
  t.equal(res.statusCode, 200)

  const rotation = count(connections())
  const rotated = await app.inject({ method: 'POST', url: '/refresh', headers: bearer(pair.refresh_token) })
  rotation.stop()
  t.equal(rotated.statusCode, 200)
  return { guarded: guarded.sent, rotation: rotation.sent }
}

const names = (sent: Sent): string[] => sent.map(s => s.name)

t.test('on a single Redis', async t => {
  const client = await redisOrSkip(t)
  if (client === null) return
  const prefix = uniquePrefix('authx-trips')
  t.teardown(() => deleteKeys(client, prefix))
  const { guarded, rotation } = await measure(t, client, () => [client], prefix)
  t.strictSame(names(guarded), ['mget'], 'a guarded request: one command')
  t.strictSame(names(rotation), ['mget', 'evalsha', 'evalsha', 'evalsha', 'evalsha'], 'a rotation: five commands in four round trips')
  t.comment(`single Redis: guarded request ${guarded.length} command; rotation ${rotation.length} commands (${names(rotation).join(', ')})`)
})

t.test('on a Redis Cluster', async t => {
  const cluster = await clusterOrSkip(t)
  if (cluster === null) return
  const prefix = uniquePrefix('authx-trips')
  t.teardown(() => deleteClusterKeys(cluster, prefix))
  const nodes = () => cluster.nodes('all')

  const { guarded, rotation } = await measure(t, cluster, nodes, prefix)
  t.strictSame(names(guarded), ['mget'], 'a guarded request: one command, on one node, whatever the subject holds ({, }, :, ü)')
  t.strictSame(names(rotation), ['mget', 'evalsha', 'evalsha', 'evalsha', 'evalsha'], 'a rotation: five commands, no redirection')
  t.equal(new Set(rotation.filter((_, i) => i !== 2 && i !== 4).map(s => s.node)).size, 1, 'the subject\'s commands go to one node; the family index (another slot) may go elsewhere')
  t.comment(`Cluster: guarded request ${guarded.length} command; rotation ${rotation.length} commands (${names(rotation).join(', ')})`)

  t.test('with waitForReplicas, every write is followed by WAIT on the node that took it', async t => {
    const waited = await measure(t, cluster, nodes, prefix + 'w:', { replicas: 1, timeout: 2000 })
    t.strictSame(names(waited.guarded), ['mget'], 'a guarded request still costs one command (reads wait for nothing)')
    t.strictSame(names(waited.rotation), ['mget', 'eval', 'wait', 'eval', 'wait', 'eval', 'wait', 'eval', 'wait'], 'a rotation: each write and its WAIT in one pipeline')
    for (let i = 1; i < waited.rotation.length; i += 2) {
      const write = waited.rotation[i]
      const wait = waited.rotation.slice(i + 1).find(s => s.name === 'wait' && s.node === write.node)
      t.ok(wait !== undefined, `the WAIT behind write ${(i + 1) / 2} went to ${write.node}, the node that took the write`)
    }
    t.comment(`Cluster with waitForReplicas: rotation ${waited.rotation.length} commands (${names(waited.rotation).join(', ')})`)
  })
})
