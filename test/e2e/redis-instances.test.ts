import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import authx, { RedisStore } from '../../lib/index'
import { SECRET, bearer } from '../helpers/app'
import type { Cluster, Redis } from 'ioredis'
import { clusterOrSkip, deleteClusterKeys, deleteKeys, redisOrSkip, uniquePrefix } from '../helpers/redis'

// Two app instances behind a load balancer, sharing revocation and rotation state through one Redis,
// or through one Redis Cluster.
async function instance (client: Redis | Cluster, prefix: string): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(authx, { secret: SECRET, store: new RedisStore({ client, prefix }), rotation: { reuseGraceSeconds: 0 }, storeTimeout: 2000 })
  app.get('/protected', { onRequest: app.requireAccess }, async req => req.tokenPayload.sub)
  app.post('/refresh', { onRequest: app.requireRefresh }, async req => await app.authx.rotateRefreshToken(req.tokenPayload))
  app.post('/logout', { onRequest: app.requireAccess }, async req => { await app.authx.revokeToken(req.tokenPayload); return 'bye' })
  app.post('/logout-all', { onRequest: app.requireAccess }, async req => { await app.authx.revokeAllSessions(req.tokenPayload.sub); return 'bye' })
  await app.ready()
  return app
}

t.test('two instances, one Redis', async t => {
  const client = await redisOrSkip(t)
  if (client === null) return
  const prefix = uniquePrefix('authx-instances')
  t.teardown(() => deleteKeys(client, prefix))
  await twoInstances(t, client, prefix)
})

t.test('two instances, one Redis Cluster', async t => {
  const cluster = await clusterOrSkip(t)
  if (cluster === null) return
  const prefix = uniquePrefix('authx-instances')
  t.teardown(() => deleteClusterKeys(cluster, prefix))
  await twoInstances(t, cluster, prefix)
})

async function twoInstances (t: tap.Test, client: Redis | Cluster, prefix: string): Promise<void> {
  const a = await instance(client, prefix)
  const b = await instance(client, prefix)
  t.teardown(() => Promise.all([a.close(), b.close()]))

  t.test('a revocation on one is seen by the other', async t => {
    const token = a.createAccessToken('alice')
    t.equal((await b.inject({ url: '/protected', headers: bearer(token) })).statusCode, 200)
    t.equal((await a.inject({ method: 'POST', url: '/logout', headers: bearer(token) })).statusCode, 200)
    const res = await b.inject({ url: '/protected', headers: bearer(token) })
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'FST_AUTHX_REVOKED_TOKEN')
  })

  t.test('log out everywhere on one ends every session on both', async t => {
    const one = a.createTokenPair('bob')
    const two = b.createTokenPair('bob')
    await b.inject({ method: 'POST', url: '/logout-all', headers: bearer(two.access_token) })
    for (const [app, token] of [[a, one.access_token], [b, one.access_token], [a, two.access_token]] as const) {
      t.equal((await app.inject({ url: '/protected', headers: bearer(token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN')
    }
    t.equal((await a.inject({ url: '/protected', headers: bearer(b.createAccessToken('bob')) })).statusCode, 200, 'a new login works (revokeAllSessions resolves once the clock has passed its cut-off)')
  })

  t.test('one refresh token sent to both instances 20 times at once: exactly one success', async t => {
    const pair = a.createTokenPair('carol')
    const results = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      await (i % 2 === 0 ? a : b).inject({ method: 'POST', url: '/refresh', headers: bearer(pair.refresh_token) })))
    const ok = results.filter(r => r.statusCode === 200)
    t.equal(ok.length, 1, 'one winner')
    t.ok(results.every(r => r.statusCode === 200 || r.statusCode === 401), 'the others are refused, no 5xx')
    t.ok(results.filter(r => r.statusCode === 401).some(r => r.json().code === 'FST_AUTHX_REFRESH_TOKEN_REUSED'), 'reuse was detected')
    const winner = ok[0].json()
    t.equal((await a.inject({ url: '/protected', headers: bearer(winner.access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'the family was revoked: even the winner\'s pair is dead')
  })

  t.test('reuse detected on the other instance revokes the family everywhere', async t => {
    const pair = a.createTokenPair('dave')
    const next = (await a.inject({ method: 'POST', url: '/refresh', headers: bearer(pair.refresh_token) })).json()
    t.equal((await b.inject({ url: '/protected', headers: bearer(next.access_token) })).statusCode, 200)
    const stolen = await b.inject({ method: 'POST', url: '/refresh', headers: bearer(pair.refresh_token) })
    t.equal(stolen.json().code, 'FST_AUTHX_REFRESH_TOKEN_REUSED')
    for (const app of [a, b]) {
      t.equal((await app.inject({ url: '/protected', headers: bearer(next.access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN')
      t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: bearer(next.refresh_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN')
    }
  })
}
