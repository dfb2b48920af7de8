import Module from 'node:module'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { Cluster, Redis } from 'ioredis'
import authx, { RedisStore } from '../../lib/index'
import { SECRET, bearer } from '../helpers/app'
import { ask, redisServerOrSkip, startRedis } from '../helpers/redis-servers'

// Redis misbehaving, on private redis-server processes (never the shared one): hung (SIGSTOP: the
// connection stays open and nothing answers), restarted, without the replica a write must wait for.

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** The heap after a full collection, in bytes. */
function heapAfterGc (): number {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/** Every ioredis Redis client made while `fn` runs (RedisStore({ url }) makes its own). */
async function clientsMadeBy<T> (fn: () => T | Promise<T>): Promise<{ result: T, made: Redis[] }> {
  const made: Redis[] = []
  const load = (Module as any)._load
  const real = require('ioredis')
  class Recorded extends real.Redis {
    constructor (...args: any[]) {
      super(...args)
      made.push(this as unknown as Redis)
    }
  }
  ;(Module as any)._load = function (request: string, ...rest: unknown[]) {
    return request === 'ioredis' ? { ...real, Redis: Recorded, default: Recorded } : load.call(this, request, ...rest)
  }
  try {
    return { result: await fn(), made }
  } finally {
    (Module as any)._load = load
  }
}

/** What ioredis holds for commands not answered yet: sent ones and ones waiting to be sent. */
const queued = (client: Redis): number => (client as any).commandQueue.length + (client as any).offlineQueue.length

async function guardedApp (store: RedisStore, options: Record<string, unknown> = {}): Promise<{ app: FastifyInstance, logs: string[] }> {
  const logs: string[] = []
  let lines = 0
  // A hung-Redis run logs a line per refused request: counted, not kept, so the heap measures the store.
  const keep = options.keepLogs !== false
  delete options.keepLogs
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines++; if (keep) logs.push(line) } } } })
  Object.defineProperty(logs, 'lines', { get: () => lines })
  await app.register(authx, { secret: SECRET, store, rotation: { reuseGraceSeconds: 0 }, ...options })
  app.get('/protected', { onRequest: app.requireAccess }, async () => 'ok')
  app.post('/logout', { onRequest: app.requireAccess }, async request => { await app.authx.revokeToken(request.tokenPayload); return 'bye' })
  await app.ready()
  return { app, logs }
}

t.test('a hung Redis: every request fails closed in time and the queues stay bounded', async t => {
  if (!redisServerOrSkip(t)) return
  const server = await startRedis(t)
  const url = `redis://127.0.0.1:${server.port}`
  const { result: store, made } = await clientsMadeBy(() => new RedisStore({ url, commandTimeout: 200 }))
  t.teardown(() => store.close())
  const [client] = made
  t.equal(made.length, 1, 'RedisStore({ url }) made one client')
  const o = client.options
  t.match({ commandTimeout: o.commandTimeout, socketTimeout: o.socketTimeout, maxRetriesPerRequest: o.maxRetriesPerRequest, autoResendUnfulfilledCommands: o.autoResendUnfulfilledCommands },
    { commandTimeout: 200, socketTimeout: 200, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false }, 'the options that bound its queues')
  const { app, logs } = await guardedApp(store, { storeTimeout: 200, keepLogs: false })
  t.teardown(() => app.close())
  const token = app.createAccessToken('alice')
  t.equal((await app.inject({ url: '/protected', headers: bearer(token) })).statusCode, 200, 'answers while Redis does')

  /** Once the hung connection has timed out, only a reconnect's handshake is left queued (checked, not slept for). */
  const leftQueued = (): string[] => [...(client as any).commandQueue.toArray(), ...(client as any).offlineQueue.toArray()].map((i: any) => i.command.name)
  const dropped = async (): Promise<void> => {
    for (let i = 0; i < 250 && !leftQueued().every(name => name === 'info' || name === 'client'); i++) await new Promise(resolve => setTimeout(resolve, 20))
  }
  const ROUNDS = 40
  const PER_ROUND = 25
  const requests = ROUNDS * PER_ROUND
  server.pause()
  t.teardown(() => { server.resume() })
  let before = 0
  const statuses = new Map<number, number>()
  let slowest = 0
  let mostQueued = 0
  for (let round = 0; round < ROUNDS; round++) {
    // the first quarter warms up what any code path allocates once (compiled code, caches): heap is measured over the rest
    if (round === ROUNDS / 4) {
      await dropped() // the hung connection dropped, its queue with it
      before = heapAfterGc()
    }
    const answers = await Promise.all(Array.from({ length: PER_ROUND }, async () => {
      const started = performance.now()
      const res = await app.inject({ url: '/protected', headers: bearer(token) })
      slowest = Math.max(slowest, performance.now() - started)
      return res.statusCode
    }))
    for (const s of answers) statuses.set(s, (statuses.get(s) ?? 0) + 1)
    mostQueued = Math.max(mostQueued, queued(client))
  }
  await dropped()
  const grown = heapAfterGc() - before
  t.strictSame([...statuses], [[503, requests]], `all ${requests} requests answered 503 while Redis was hung`)
  t.ok(slowest < 2000, `each within storeTimeout (200 ms) and scheduling slack: the slowest took ${slowest.toFixed(0)} ms`)
  t.ok(mostQueued <= 3 * PER_ROUND, `the store's client never held more than ${mostQueued} commands (of ${requests} sent)`)
  const left = leftQueued()
  t.ok(left.every((name: string) => name === 'info' || name === 'client'), `left once the hung connection was dropped: only a reconnect's handshake (${left.join(', ')})`)
  t.equal((logs as any).lines, 2 * requests, 'two log lines per refused request (the store error, the 503)')
  const measured = requests * 3 / 4
  t.ok(grown / measured < 1024, `heap after GC grew ${(grown / 1024).toFixed(0)} KB over the last ${measured} refused requests (${(grown / measured).toFixed(0)} bytes each)`)

  // The same reads through a client with ioredis's defaults (no socketTimeout), one event-loop turn apart as
  // requests arriving over time (each turn's reads are one MGET): all of them stay queued.
  const naive = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true })
  naive.on('error', () => {})
  t.teardown(() => { naive.disconnect() })
  server.resume()
  await naive.connect()
  const naiveStore = new RedisStore({ client: naive })
  await naiveStore.status({ sub: 'alice', jti: 'j' })
  const naiveBefore = heapAfterGc()
  server.pause()
  for (let i = 0; i < requests; i++) {
    naiveStore.status({ sub: 'alice', jti: `j${i}` }).catch(() => {})
    await new Promise(resolve => setImmediate(resolve))
  }
  await new Promise(resolve => setTimeout(resolve, 500))
  const naiveGrown = heapAfterGc() - naiveBefore
  t.equal(queued(naive), requests, `a client with ioredis's defaults holds every one of its ${requests} commands`)
  t.comment(`hung Redis, ${requests} requests: slowest 503 in ${slowest.toFixed(0)} ms; the { url } store's client held at most ${mostQueued} commands, ` +
    `heap +${(grown / 1024).toFixed(0)} KB after GC over the last ${measured}; a client with ioredis defaults held ${queued(naive)}, heap +${(naiveGrown / 1024).toFixed(0)} KB (${(naiveGrown / requests).toFixed(0)} bytes each)`)

  server.resume()
  const resumed = performance.now()
  let status = 0
  for (let i = 0; i < 200 && status !== 200; i++) {
    status = (await app.inject({ url: '/protected', headers: bearer(token) })).statusCode
    if (status !== 200) await new Promise(resolve => setTimeout(resolve, 10))
  }
  t.equal(status, 200, `answers again once Redis does (${(performance.now() - resumed).toFixed(0)} ms after SIGCONT)`)
})

t.test('a restarted Redis: 503 while it is down, 200 again soon after it answers', async t => {
  if (!redisServerOrSkip(t)) return
  const server = await startRedis(t, ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'])
  const store = new RedisStore({ url: `redis://127.0.0.1:${server.port}` })
  t.teardown(() => store.close())
  const { app, logs } = await guardedApp(store)
  t.teardown(() => app.close())
  const token = app.createAccessToken('alice')
  const revoked = app.createAccessToken('alice')
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(revoked) })).statusCode, 200)
  t.equal((await app.inject({ url: '/protected', headers: bearer(token) })).statusCode, 200)

  await server.kill()
  for (const tok of [token, revoked]) {
    const res = await app.inject({ url: '/protected', headers: bearer(tok) })
    t.equal(res.statusCode, 503, 'down: fails closed')
    t.equal(res.json().code, 'FST_AUTHX_STORE_UNAVAILABLE')
  }
  await new Promise(resolve => setTimeout(resolve, 1500)) // long enough for reconnect attempts to back off fully
  await server.start() // resolves once the server answers PING
  const answering = performance.now()
  let status = 0
  let tries = 0
  while (status !== 200 && performance.now() - answering < 10_000) {
    tries++
    status = (await app.inject({ url: '/protected', headers: bearer(token) })).statusCode
    if (status !== 200) await new Promise(resolve => setTimeout(resolve, 5))
  }
  const recovery = performance.now() - answering
  t.equal(status, 200, 'recovers by itself')
  t.ok(recovery < 3000, `first 200 ${recovery.toFixed(0)} ms after Redis answered PING (${tries} requests; the store reconnects at most 250 ms apart)`)
  t.comment(`restart recovery: ${recovery.toFixed(0)} ms from PING to the first 200`)
  t.equal((await app.inject({ url: '/protected', headers: bearer(revoked) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'the revocation survived (AOF)')
  t.notOk(logs.some(l => l.includes(token) || l.includes('alice')), 'no token or subject in the logs')
})

t.test('waitForReplicas: a write no replica confirms fails closed; with a replica it passes', async t => {
  if (!redisServerOrSkip(t)) return
  const master = await startRedis(t)
  // a generous WAIT timeout: with no replica the answer is 0 whatever the wait; with one, a loaded machine still confirms in time
  const store = new RedisStore({ url: `redis://127.0.0.1:${master.port}`, waitForReplicas: { replicas: 1, timeout: 1000 }, commandTimeout: 3000 })
  t.teardown(() => store.close())
  const { app, logs } = await guardedApp(store, { storeTimeout: 3000 })
  t.teardown(() => app.close())
  const token = app.createAccessToken('alice')
  const res = await app.inject({ method: 'POST', url: '/logout', headers: bearer(token) })
  t.equal(res.statusCode, 503, 'no replica: the revocation is refused')
  t.equal(res.json().code, 'FST_AUTHX_STORE_UNAVAILABLE')
  t.ok(logs.some(l => l.includes('ReplicaWaitError') && l.includes('0 of 1 replicas confirmed a write within 1000 ms')), 'the log says why')
  await t.rejects(app.authx.createSession('alice'), { code: 'FST_AUTHX_STORE_UNAVAILABLE' }, 'so is a session')

  const replica = await startRedis(t, ['--save', '', '--appendonly', 'no', '--replicaof', '127.0.0.1', String(master.port)])
  for (let i = 0; i < 100 && !String(await ask(replica.port, 'INFO', 'replication')).includes('master_link_status:up'); i++) {
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  t.equal((await app.inject({ url: '/protected', headers: bearer(token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN',
    'the refused revocation may still have landed on the master (a 503 promises nothing either way)')
  const other = app.createAccessToken('alice')
  const confirmed = await app.inject({ method: 'POST', url: '/logout', headers: bearer(other) })
  t.equal(confirmed.statusCode, 200, 'with a replica it resolves', { logs: logs.slice(-2) })
  t.equal(await ask(replica.port, 'EXISTS', `authx:{alice}:jti:${app.authx.verifyToken(other).jti as string}`), 1, 'and the replica has it')
})

t.test('the plugin warns at register time about a client that would queue without bound', async t => {
  const warned: Array<{ message: string, code?: string }> = []
  const onWarning = (w: Error & { code?: string }) => { warned.push({ message: w.message, code: w.code }) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const register = async (client: any) => {
    const { app, logs } = await guardedApp(new RedisStore({ client }))
    await app.close()
    await new Promise(resolve => setImmediate(resolve)) // process warnings are emitted on the next tick
    return logs.map(l => JSON.parse(l).msg as string)
  }

  const plain = new Redis({ lazyConnect: true })
  const logs = await register(plain)
  t.equal(logs.length, 1, 'ioredis defaults: one warning')
  t.match(logs[0], /socketTimeout is not set: a hung Redis keeps every command sent to it queued/)
  t.match(warned, [{ code: 'FST_AUTHX_UNBOUNDED_QUEUE', message: logs[0] }], 'also a process warning with its code')

  t.equal((await register(new Redis({ lazyConnect: true, socketTimeout: 500, maxRetriesPerRequest: null }))).length, 1)
  warned.length = 0
  t.strictSame(await register(new Redis({ lazyConnect: true, socketTimeout: 500, commandTimeout: 500, maxRetriesPerRequest: 0 })), [], 'bounded: no warning')
  const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true })
  const clusterLogs = await register(cluster)
  t.equal(clusterLogs.length, 2, 'a Cluster with defaults: node socketTimeout and the offline queue')
  t.strictSame(await register(new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true, enableOfflineQueue: false, redisOptions: { socketTimeout: 500 } })), [], 'a bounded Cluster: none')
  t.equal(warned.length, 2, 'a process warning for each log line since the count was reset')
})
