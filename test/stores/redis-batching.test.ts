import t from 'tap'
import type { Cluster, Redis } from 'ioredis'
import { RedisStore, type RedisClient } from '../../lib/stores/redis'
import { ALL_CLEAR, type TokenRef } from '../../lib/stores/types'
import { clusterOrSkip, deleteClusterKeys, deleteKeys, redisOrSkip, uniquePrefix } from '../helpers/redis'

// The guards' status reads of one event-loop turn go to Redis as one MGET (a Cluster: one per subject),
// and each call still gets its own token's answer (README, "Redis at scale").

const HOUR = 3600

/**
 * A client in process memory that records every MGET: enough of ioredis for `status` (which only reads),
 * with `mget` failing for any key that contains `failOn`.
 */
function memoryClient (options: { cluster?: boolean, failOn?: string, holdOn?: { key: string, until: Promise<void> }, reply?: (keys: string[]) => unknown } = {}) {
  const data = new Map<string, string>()
  const mgets: string[][] = []
  const client: RedisClient = {
    defineCommand () {},
    async mget (keys) {
      mgets.push(keys)
      if (options.failOn !== undefined && keys.some(k => k.includes(options.failOn as string))) throw new Error('connection lost')
      const hold = options.holdOn
      if (hold !== undefined && keys.some(k => k.includes(hold.key))) await hold.until
      if (options.reply !== undefined) return options.reply(keys) as Array<string | null>
      return keys.map(k => data.get(k) ?? null)
    },
    async get (key) { return data.get(key) ?? null },
    pipeline () { throw new Error('not used') },
    async quit () {},
    disconnect () {},
    status: 'ready',
    isCluster: options.cluster === true
  }
  return { client, data, mgets }
}

t.test('status calls made in one turn are one MGET, each answered for its own token', async t => {
  const { client, data, mgets } = memoryClient()
  const store = new RedisStore({ client, prefix: 'p:' })
  // what the store holds: a revoked jti, a used mark, a cut-off, a revoked family
  data.set('p:{a}:jti:1', '1')
  data.set('p:{b}:used:2', '1700000000123')
  data.set('p:{c}:all', '1700000000456')
  data.set('p:{d}:fam:F', '1')
  const refs: TokenRef[] = [
    { sub: 'a', jti: '1' }, // revoked
    { sub: 'a', jti: '9', fam: 'G' }, // same subject, clear
    { sub: 'b', jti: '2', fam: 'F' }, // used (the family F is d's, not b's)
    { sub: 'c', jti: '3' }, // under a cut-off
    { sub: 'd', jti: '4', fam: 'F' }, // family revoked
    { sub: 'e', jti: '5' } // nothing known
  ]
  const answers = await Promise.all(refs.map(ref => store.status(ref)))
  t.equal(mgets.length, 1, 'one MGET for six calls')
  t.strictSame(mgets[0], [
    'p:{a}:jti:1', 'p:{a}:used:1', 'p:{a}:all',
    'p:{a}:jti:9', 'p:{a}:used:9', 'p:{a}:all', 'p:{a}:fam:G',
    'p:{b}:jti:2', 'p:{b}:used:2', 'p:{b}:all', 'p:{b}:fam:F',
    'p:{c}:jti:3', 'p:{c}:used:3', 'p:{c}:all',
    'p:{d}:jti:4', 'p:{d}:used:4', 'p:{d}:all', 'p:{d}:fam:F',
    'p:{e}:jti:5', 'p:{e}:used:5', 'p:{e}:all'
  ], 'every call\'s keys, in call order')
  t.strictSame(answers, [
    { revoked: true, familyRevoked: false, revokedBefore: 0, consumedAt: 0 },
    ALL_CLEAR,
    { revoked: false, familyRevoked: false, revokedBefore: 0, consumedAt: 1700000000123 },
    { revoked: false, familyRevoked: false, revokedBefore: 1700000000456, consumedAt: 0 },
    { revoked: false, familyRevoked: true, revokedBefore: 0, consumedAt: 0 },
    ALL_CLEAR
  ])
  t.equal(answers[5], ALL_CLEAR, 'nothing known: the shared ALL_CLEAR')

  const again = await store.status({ sub: 'a', jti: '1' })
  t.equal(mgets.length, 2, 'a call in a later turn is an MGET of its own: nothing is cached')
  t.equal(again.revoked, true)
  data.delete('p:{a}:jti:1')
  t.strictSame(await store.status({ sub: 'a', jti: '1' }), ALL_CLEAR, 'and reads what Redis holds now')
})

t.test('more than 128 calls in one turn: 128 per MGET, every answer in place', async t => {
  const { client, data, mgets } = memoryClient()
  const store = new RedisStore({ client, prefix: 'p:' })
  for (let i = 0; i < 300; i += 7) data.set(`p:{u${i}}:jti:${i}`, '1')
  const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => store.status({ sub: `u${i}`, jti: String(i) })))
  t.strictSame(mgets.map(keys => keys.length), [128 * 3, 128 * 3, 44 * 3])
  t.strictSame(answers.map(a => a.revoked), Array.from({ length: 300 }, (_, i) => i % 7 === 0))
})

t.test('a failed MGET rejects every call it carried, and only those', async t => {
  const { client, mgets } = memoryClient({ failOn: '{x}' })
  const store = new RedisStore({ client, prefix: 'p:' })
  const calls = [store.status({ sub: 'x', jti: '1' }), store.status({ sub: 'y', jti: '2' })]
  for (const call of calls) await t.rejects(call, { message: 'connection lost' }, 'one node MGET: both calls fail (the plugin answers 503)')
  t.equal(mgets.length, 1)
  t.strictSame(await store.status({ sub: 'y', jti: '3' }), ALL_CLEAR, 'the next turn\'s MGET is a new one')

  const cluster = memoryClient({ cluster: true, failOn: '{x}' })
  const clustered = new RedisStore({ client: cluster.client, prefix: 'p:' })
  const [x, y] = await Promise.allSettled([clustered.status({ sub: 'x', jti: '1' }), clustered.status({ sub: 'y', jti: '2' })])
  t.equal(x.status, 'rejected', 'a Cluster: the failed subject\'s call fails')
  t.strictSame(y, { status: 'fulfilled', value: ALL_CLEAR }, 'another subject\'s MGET answered')
})

t.test('an MGET reply of the wrong shape fails the calls it cannot answer, never reads as all clear', async t => {
  const short = new RedisStore({ client: memoryClient({ reply: keys => keys.slice(0, 4).map(() => null) }).client, prefix: 'p:' })
  const [first, second] = await Promise.allSettled([short.status({ sub: 'a', jti: '1' }), short.status({ sub: 'b', jti: '2' })])
  t.strictSame(first, { status: 'fulfilled', value: ALL_CLEAR }, 'a reply with the first call\'s three values answers it')
  t.match(second, { status: 'rejected', reason: { message: 'RedisStore: MGET answered too few values' } }, 'the call the reply is too short for fails')
  const notList = new RedisStore({ client: memoryClient({ reply: () => 'OK' }).client, prefix: 'p:' })
  await t.rejects(notList.status({ sub: 'a', jti: '1' }), { message: 'RedisStore: MGET answered something other than a list' })
})

t.test('on a Cluster client: a node that does not answer holds up only the calls about its subjects', async t => {
  let release = (): void => {}
  const until = new Promise<void>(resolve => { release = resolve })
  const { client, data, mgets } = memoryClient({ cluster: true, holdOn: { key: '{x}', until } })
  const store = new RedisStore({ client, prefix: 'p:' })
  data.set('p:{y}:jti:2', '1')
  let xSettled = false
  const x = store.status({ sub: 'x', jti: '1' }).finally(() => { xSettled = true })
  const y = await store.status({ sub: 'y', jti: '2' })
  t.equal(mgets.length, 2, 'one batch, two MGETs')
  t.equal(y.revoked, true, 'the other subject\'s call is answered')
  t.equal(xSettled, false, 'while the held node\'s call still waits')
  release()
  t.strictSame(await x, ALL_CLEAR, 'which is answered once its node is')
})

t.test('on a Cluster client: one MGET per subject (its keys share a slot), never one across slots', async t => {
  const { client, data, mgets } = memoryClient({ cluster: true })
  const store = new RedisStore({ client, prefix: 'p:' })
  data.set('p:{b}:jti:2', '1')
  const answers = await Promise.all([
    store.status({ sub: 'a', jti: '1' }),
    store.status({ sub: 'b', jti: '2' }),
    store.status({ sub: 'a', jti: '3', fam: 'F' })
  ])
  t.strictSame(mgets, [
    ['p:{a}:jti:1', 'p:{a}:used:1', 'p:{a}:all', 'p:{a}:jti:3', 'p:{a}:used:3', 'p:{a}:all', 'p:{a}:fam:F'],
    ['p:{b}:jti:2', 'p:{b}:used:2', 'p:{b}:all']
  ])
  t.strictSame(answers.map(a => a.revoked), [false, true, false])
})

t.test('on a Cluster client: calls about one subject only are one MGET, each answered for its own token', async t => {
  const { client, data, mgets } = memoryClient({ cluster: true })
  const store = new RedisStore({ client, prefix: 'p:' })
  data.set('p:{a}:jti:2', '1')
  data.set('p:{a}:fam:F', '1')
  const answers = await Promise.all([
    store.status({ sub: 'a', jti: '1' }),
    store.status({ sub: 'a', jti: '2' }),
    store.status({ sub: 'a', jti: '3', fam: 'F' })
  ])
  t.equal(mgets.length, 1)
  t.strictSame(answers, [ALL_CLEAR, { revoked: true, familyRevoked: false, revokedBefore: 0, consumedAt: 0 }, { revoked: false, familyRevoked: true, revokedBefore: 0, consumedAt: 0 }])
})

/** Counts the MGETs a real client sends, and what their keys were. */
function countMgets (connections: Redis[]): { keys: string[][], stop: () => void } {
  const keys: string[][] = []
  const restore: Array<() => void> = []
  for (const redis of connections) {
    const original = redis.sendCommand
    redis.sendCommand = function (command, ...rest) {
      if (command.name === 'mget') keys.push(command.args.map(String))
      return original.call(this, command, ...rest)
    }
    restore.push(() => { redis.sendCommand = original })
  }
  return { keys, stop: () => { for (const r of restore) r() } }
}

/** Fifty reads in one turn, every fifth token revoked beforehand, on a real server. */
async function fiftyAtOnce (t: tap.Test, client: Redis | Cluster, connections: () => Redis[], prefix: string, subjects: number) {
  const store = new RedisStore({ client, prefix })
  const refs: TokenRef[] = Array.from({ length: 50 }, (_, i) => ({ sub: `user-${i % subjects}`, jti: `jti-${i}`, fam: i % 2 === 0 ? `fam-${i}` : undefined }))
  for (const [i, ref] of refs.entries()) if (i % 5 === 0) await store.revokeToken(ref, HOUR)
  await store.revokeFamily('user-1', 'fam-2', HOUR) // not user-2's family: nobody's answer changes
  const counted = countMgets(connections())
  const answers = await Promise.all(refs.map(ref => store.status(ref)))
  counted.stop()
  t.strictSame(answers.map(a => a.revoked), refs.map((_, i) => i % 5 === 0), 'each call: its own token\'s answer')
  t.notOk(answers.some(a => a.familyRevoked), 'a family revoked under another subject is not this token\'s')
  return counted.keys
}

t.test('on a single Redis: fifty guards\' reads in one turn are one MGET', async t => {
  const client = await redisOrSkip(t)
  if (client === null) return
  const prefix = uniquePrefix('authx-batch')
  t.teardown(() => deleteKeys(client, prefix))
  const sent = await fiftyAtOnce(t, client, () => [client], prefix, 7)
  t.equal(sent.length, 1, 'one MGET')
  t.equal(sent[0].length, 50 * 3 + 25, '3 keys a token, 4 with a family')
})

t.test('on a Redis Cluster: one MGET per subject, no CROSSSLOT', async t => {
  const cluster = await clusterOrSkip(t)
  if (cluster === null) return
  const prefix = uniquePrefix('authx-batch')
  t.teardown(() => deleteClusterKeys(cluster, prefix))
  const sent = await fiftyAtOnce(t, cluster, () => cluster.nodes('all'), prefix, 7)
  t.equal(sent.length, 7, 'seven subjects, seven MGETs')
  for (const keys of sent) t.equal(new Set(keys.map(k => k.slice(k.indexOf('{'), k.indexOf('}') + 1))).size, 1, 'each of one subject')
})
