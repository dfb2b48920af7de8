/**
 * Attack class 11 over Redis: the rotation race of rotation-races.test.ts, across two app instances
 * sharing one Redis and one Redis Cluster (README "Revocation, rotation and sessions": the redeem step is
 * one Lua script in the subject's Redis slot, atomic across every client). Bounded repetition, zero tolerance: in every round exactly one of
 * the concurrent refreshes wins, and the race ends the family.
 * Sources: RFC 9700 §4.14.2; CWE-367 (TOCTOU).
 */
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Cluster, Redis } from 'ioredis'
import authx, { RedisStore } from '../../lib/index'
import { SECRET, bearer } from '../helpers/app'
import { clusterOrSkip, deleteClusterKeys, deleteKeys, redisOrSkip, uniquePrefix } from '../helpers/redis'
import './helpers' // this attack class reports its case count too (its refusals are checked by its own assertions)

const ROUNDS = 10
const RACERS = 20

async function instance (client: Redis | Cluster, prefix: string, reuseGraceSeconds: number): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(authx, { secret: SECRET, store: new RedisStore({ client, prefix }), rotation: { reuseGraceSeconds }, storeTimeout: 5000 })
  app.get('/protected', { onRequest: app.requireAccess }, async () => 'ok')
  app.post('/refresh', { onRequest: app.requireRefresh }, async request => await app.authx.rotateRefreshToken(request.tokenPayload))
  await app.ready()
  return app
}

async function races (t: tap.Test, client: Redis | Cluster, prefix: string): Promise<void> {
  const strict = [await instance(client, prefix, 0), await instance(client, prefix, 0)]
  const tabs = [await instance(client, prefix, 10), await instance(client, prefix, 10)]
  t.teardown(() => Promise.all([...strict, ...tabs].map(async app => { await app.close() })))

  t.test(`${RACERS} refreshes of one token on two instances, ${ROUNDS} rounds: exactly one winner each time`, async t => {
    let rounds = 0
    for (let round = 0; round < ROUNDS; round++) {
      // subjects that would break a hash tag if they were not encoded
      const sub = [`racer:${round}`, `{racer}${round}`, `räcer}:${round}{`][round % 3]
      const pair = await strict[0].authx.createSession(sub)
      const results = await Promise.all(Array.from({ length: RACERS }, async (_, i) =>
        await strict[i % 2].inject({ method: 'POST', url: '/refresh', headers: bearer(pair.refresh_token) })))
      const winners = results.filter(r => r.statusCode === 200)
      const codes = new Set(results.filter(r => r.statusCode !== 200).map(r => `${r.statusCode} ${r.json().code as string}`))
      if (winners.length !== 1) t.fail(`round ${round}: ${winners.length} winners`)
      for (const code of codes) {
        if (code !== '401 FST_AUTHX_REFRESH_TOKEN_REUSED' && code !== '401 FST_AUTHX_REVOKED_TOKEN') t.fail(`round ${round}: a loser got ${code}`)
      }
      if (winners.length === 1) {
        const won = winners[0].json()
        for (const app of strict) {
          const res = await app.inject({ url: '/protected', headers: bearer(won.access_token) })
          if (res.statusCode !== 401) t.fail(`round ${round}: the winner's access token answered ${res.statusCode} after the race ended its family`)
        }
      }
      rounds++
    }
    t.equal(rounds, ROUNDS, `${ROUNDS} rounds of ${RACERS}, one winner each, every family ended`)
  })

  t.test('within the grace window (two tabs), concurrent refreshes on two instances all get a working pair', async t => {
    const pair = await tabs[0].authx.createSession('tabs')
    const results = await Promise.all(Array.from({ length: RACERS }, async (_, i) =>
      await tabs[i % 2].inject({ method: 'POST', url: '/refresh', headers: bearer(pair.refresh_token) })))
    t.strictSame(results.map(r => r.statusCode), Array(RACERS).fill(200))
    for (const [i, r] of results.entries()) {
      if ((await tabs[(i + 1) % 2].inject({ url: '/protected', headers: bearer(r.json().access_token) })).statusCode !== 200) t.fail(`pair ${i} does not work`)
    }
  })
}

t.test('rotation races over one Redis', async t => {
  const client = await redisOrSkip(t)
  if (client === null) return
  const prefix = uniquePrefix('authx-races')
  t.teardown(() => deleteKeys(client, prefix))
  await races(t, client, prefix)
})

t.test('rotation races over a Redis Cluster', async t => {
  const cluster = await clusterOrSkip(t)
  if (cluster === null) return
  const prefix = uniquePrefix('authx-races')
  t.teardown(() => deleteClusterKeys(cluster, prefix))
  await races(t, cluster, prefix)
})
