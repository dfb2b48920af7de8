import Module from 'node:module'
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisStore } from '../../lib/stores/redis'
import { REDIS_URL, deleteKeys, escapePattern, keysMatching, redisOrSkip, uniquePrefix } from '../helpers/redis'
import { storeConformance, type StoreClock } from './conformance'

const HOUR = 3600

/** Redis expires keys by its own clock: moving time on means waiting (the suite's TTLs are a second, it waits longer). */
const redisClock = (): StoreClock => ({
  now: Date.now,
  advance: async ms => { await new Promise(resolve => setTimeout(resolve, ms)) }
})

t.test('RedisStore', async t => {
  const client = await redisOrSkip(t)
  if (client === null) return
  const run = uniquePrefix()
  t.teardown(() => deleteKeys(client, run))
  let stores = 0
  /** A store with a prefix of its own, under this run's prefix. */
  const storeOver = (redis: Redis, clock?: StoreClock): RedisStore => new RedisStore({ client: redis, prefix: `${run}${++stores}:`, now: clock?.now })

  t.test('conformance', async t => {
    storeConformance(t, async clock => storeOver(client, clock), redisClock)
  })

  t.test('conformance over a client with a keyPrefix (every script passes its keys in KEYS)', async t => {
    const prefixed = client.duplicate({ keyPrefix: `${run}kp:` })
    t.teardown(() => prefixed.quit())
    storeConformance(t, async clock => storeOver(prefixed, clock), redisClock)
    t.test('the keys carry the keyPrefix', async t => {
      t.ok((await keysMatching(client, escapePattern(`${run}kp:${run}`) + '*')).length > 0)
    })
  })

  t.test('key layout: prefix, subject hash tag, and a TTL on every key', async t => {
    const prefix = `${run}layout:`
    const store = new RedisStore({ client, prefix })
    const sub = 'a{b}:c%ü'
    const tag = '{a%7Bb%7D:c%25ü}'
    const now = Date.now()
    await store.revokeToken({ sub, jti: 'j1' }, HOUR)
    await store.revokeFamily(sub, 'f1', HOUR)
    await store.saveSession(sub, { fam: 'f2', createdAt: now, lastUsedAt: now, expiresAt: now + 60_000 })
    await store.redeem({ sub, jti: 'j2', fam: 'f2' }, now, 30, HOUR)
    await store.revokeAllSessions('other', now, HOUR)
    await store.saveSession('other', { fam: 'f3', createdAt: now, lastUsedAt: now, expiresAt: now + 60_000 })

    const keys = await keysMatching(client, escapePattern(prefix) + '*')
    t.strictSame(keys.sort(), [
      `${prefix}${tag}:fam:f1`,
      `${prefix}${tag}:jti:j1`,
      `${prefix}${tag}:sessions`,
      `${prefix}${tag}:used:j2`,
      `${prefix}${tag}:minted`,
      `${prefix}family:f2`,
      `${prefix}family:f3`,
      `${prefix}{other}:all`,
      `${prefix}{other}:minted`,
      `${prefix}{other}:sessions`
    ].sort())
    for (const key of keys) {
      const ttl = await client.pttl(key)
      t.ok(ttl > 0 && ttl <= HOUR * 1000, `${key} expires (in ${ttl} ms)`)
    }
    t.ok(await client.pttl(`${prefix}${tag}:used:j2`) <= 30_000, 'each as the token it names')
    t.ok(await client.pttl(`${prefix}${tag}:sessions`) <= 60_000, 'sessions as the latest session')
  })

  t.test('a later, shorter revocation never shortens an entry', async t => {
    const prefix = `${run}ttl:`
    const store = new RedisStore({ client, prefix })
    await store.revokeToken({ sub: 'alice', jti: 'j1' }, HOUR)
    await store.revokeToken({ sub: 'alice', jti: 'j1' }, 1)
    await store.revokeFamily('alice', 'f1', HOUR)
    await store.revokeFamily('alice', 'f1', 1)
    await store.revokeAllSessions('alice', 2000, HOUR)
    await store.revokeAllSessions('alice', 3000, 1)
    for (const kind of ['jti:j1', 'fam:f1', 'all']) t.ok(await client.pttl(`${prefix}{alice}:${kind}`) > 1000, kind)
    t.equal(await client.get(`${prefix}{alice}:all`), '3000', 'while the cut-off still moves on')
  })

  t.test('the prefix defaults to authx:', async t => {
    const keyPrefix = `${run}default:`
    const prefixed = client.duplicate({ keyPrefix })
    t.teardown(() => prefixed.quit())
    await new RedisStore({ client: prefixed }).revokeToken({ sub: 'alice', jti: 'j1' }, HOUR)
    t.strictSame(await keysMatching(client, escapePattern(keyPrefix) + '*'), [`${keyPrefix}authx:{alice}:jti:j1`])
  })

  t.test('status is one command, one round trip', async t => {
    const store = storeOver(client)
    await store.revokeAllSessions('alice', 1000, HOUR)
    const sent: string[] = []
    const sendCommand = client.sendCommand
    client.sendCommand = function (command, ...rest) {
      sent.push(command.name)
      return sendCommand.call(this, command, ...rest)
    }
    try {
      t.equal((await store.status({ sub: 'alice', jti: 'j1', fam: 'f1' })).revokedBefore, 1000)
      await store.status({ sub: 'bob', jti: 'j1' })
    } finally {
      client.sendCommand = sendCommand
    }
    t.strictSame(sent, ['mget', 'mget'])
  })

  t.test('Redis errors reject', async t => {
    const store = storeOver(client)
    await client.set(`${run}${stores}:{alice}:sessions`, 'not a hash')
    await t.rejects(store.listSessions('alice'), /WRONGTYPE/, 'an error from a script')
    await t.rejects(store.saveSession('alice', { fam: 'f1', createdAt: 1, lastUsedAt: 1, expiresAt: Date.now() + 1000 }), /WRONGTYPE/)

    const down = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    down.on('error', () => {})
    const unreachable = new RedisStore({ client: down })
    await t.rejects(unreachable.status({ sub: 'alice', jti: 'j1' }), 'status')
    await t.rejects(unreachable.redeem({ sub: 'alice', jti: 'j1' }, Date.now(), HOUR, HOUR), 'redeem')
    await t.rejects(unreachable.revokeToken({ sub: 'alice', jti: 'j1' }, HOUR), 'revokeToken')
    down.disconnect()
  })

  t.test('new RedisStore({ url }) makes its own client, and close() quits it', async t => {
    const store = new RedisStore({ url: REDIS_URL, prefix: `${run}url:` })
    await store.revokeToken({ sub: 'alice', jti: 'j1' }, HOUR)
    t.equal((await store.status({ sub: 'alice', jti: 'j1' })).revoked, true)
    await store.close()
    await t.rejects(store.status({ sub: 'alice', jti: 'j1' }), /closed/)
    await new RedisStore({ url: REDIS_URL }).close()
    t.pass('a store that never connected closes too')
  })

  t.test('with { url } and Redis down, calls fail fast instead of queueing', async t => {
    const store = new RedisStore({ url: 'redis://127.0.0.1:1' })
    t.teardown(() => store.close())
    const started = Date.now()
    await t.rejects(store.status({ sub: 'alice', jti: 'j1' }))
    t.ok(Date.now() - started < 2000, `rejected in ${Date.now() - started} ms`)
  })

  t.test('close() leaves a client passed in open', async t => {
    await storeOver(client).close()
    t.equal(await client.ping(), 'PONG')
  })
})

t.test('ioredis is loaded only by a store that makes its own client', async t => {
  const requested: string[] = []
  const load = (Module as any)._load
  ;(Module as any)._load = function (request: string, ...rest: unknown[]) {
    requested.push(request)
    return load.call(this, request, ...rest)
  }
  try {
    const stub = { defineCommand () {} } as unknown as Redis
    const store = new RedisStore({ client: stub })
    t.notOk(requested.includes('ioredis'), 'not with { client }')
    const owning = new RedisStore({ url: 'redis://127.0.0.1:1' })
    t.ok(requested.includes('ioredis'), 'with { url }')
    await store.close()
    await owning.close()
  } finally {
    (Module as any)._load = load
  }
})

t.test('the constructor wants exactly one of client and url', async t => {
  t.throws(() => new RedisStore({} as any), { code: 'FST_AUTHX_BAD_ARGUMENT' })
  t.throws(() => new RedisStore({ url: REDIS_URL, client: {} } as any), { code: 'FST_AUTHX_BAD_ARGUMENT' })
})

t.test('commandTimeout is for { url }; waitForReplicas wants whole numbers of at least 1', async t => {
  const client = { defineCommand () {} } as unknown as Redis
  t.throws(() => new RedisStore({ client, commandTimeout: 500 } as any), { code: 'FST_AUTHX_BAD_ARGUMENT', message: /commandTimeout is for \{ url \}/ })
  for (const commandTimeout of [0, -1, 1.5, NaN]) t.throws(() => new RedisStore({ url: REDIS_URL, commandTimeout }), { code: 'FST_AUTHX_BAD_ARGUMENT', message: /commandTimeout/ }, `commandTimeout ${commandTimeout}`)
  for (const waitForReplicas of [null, {}, { replicas: 1 }, { replicas: 0, timeout: 100 }, { replicas: 1, timeout: 0 }, { replicas: 1.5, timeout: 100 }]) {
    t.throws(() => new RedisStore({ client, waitForReplicas: waitForReplicas as any }), { code: 'FST_AUTHX_BAD_ARGUMENT', message: /waitForReplicas/ }, JSON.stringify(waitForReplicas))
  }
  t.doesNotThrow(() => new RedisStore({ client, waitForReplicas: { replicas: 2, timeout: 100 } }))
  const owning = new RedisStore({ url: REDIS_URL })
  t.strictSame(owning.warnings(), [], 'a store that made its own client has nothing to warn about')
  await owning.close()
})
