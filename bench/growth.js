'use strict'
// Does the guard's cost grow with the revocations a store holds? app.requireAccess, called in-process as
// Fastify calls it, with 0, 10k, 100k and 1M revoked jtis of other subjects in the store, written through
// the plugin's store API (app.authx.store.revokeToken), as the plugin itself writes them.
//   MemoryStore: one child process per size, each holding its own store (its heap, its GC), measured in
//     rotating rounds (0, 10k, 100k, 1M, 0, 10k, …), pinned to the core this process runs on.
//   RedisStore (REDIS_URL): one database of that server per size (12, 13, 14, 15 by default; GROWTH_REDIS_DB
//     moves the first), each with its own app and store, measured in rotating rounds as the MemoryStore
//     is, 16 guarded calls in flight. Keys carry a prefix of this run's own and are deleted (SCAN MATCH +
//     UNLINK) at the end, whatever happens; they also expire by themselves.
// After `npm run build`: node bench/growth.js [--quick] [--json] [--stores=memory,redis]
const assert = require('node:assert/strict')
const { fork } = require('node:child_process')
const { randomUUID } = require('node:crypto')
const Fastify = require('fastify')
const authx = require('fastify-authx')
const { SECRET, SUBJECT, mint, requestLike, replyLike } = require('./fixtures')
const { REDIS_URL, uniquePrefix, connectNode, deleteByPrefix, withTimeout } = require('./redis')

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const json = args.includes('--json')
const stores = (args.find(a => a.startsWith('--stores='))?.slice(9) ?? 'memory,redis').split(',')
const MEMORY_SIZES = [0, 10_000, 100_000, 1_000_000]
const REDIS_SIZES = quick ? [0, 10_000, 100_000] : [0, 10_000, 100_000, 1_000_000]
const ROUNDS = quick ? 3 : 7
const ROUND_MS = quick ? 250 : 600
const REDIS_ROUNDS = quick ? 3 : 7
/** The first of the databases (SELECT) the Redis part uses on REDIS_URL's server, one per size; the default server has 16. */
const REDIS_DB = process.env.GROWTH_REDIS_DB === undefined ? 12 : Number(process.env.GROWTH_REDIS_DB)
const REDIS_ROUND_MS = quick ? 400 : 1000
const IN_FLIGHT = 16
/** Pause after the Redis fills, before measuring (see redisGrowth). */
const SETTLE_MS = Number(process.env.SETTLE_MS ?? 5000)
const BATCH = 500
const WRITE_BATCH = 5000
// Seconds each revocation is kept: the store's TTL, so that keys left by a killed run go by themselves.
const TTL = 900

const median = a => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2 }
let sink = 0

async function makeApp (options = {}) {
  const app = Fastify({ logger: false })
  await app.register(authx, { secret: SECRET, ...options })
  await app.ready()
  return app
}

/**
 * Revokes `count` jtis of other subjects through the plugin's store; the first is a token checked to be
 * refused. Between batches of writes, `stop()` may end it (a signal): it throws once the batch in flight is written.
 */
async function fill (app, count, stop = () => false) {
  const store = app.authx.store
  const started = Date.now()
  let victim
  if (count > 0) {
    victim = app.createAccessToken('victim-0', { expiresIn: '2h' })
    const payload = app.authx.verifyToken(victim)
    await store.revokeToken({ sub: payload.sub, jti: payload.jti }, TTL)
  }
  for (let i = 1; i < count; i += WRITE_BATCH) {
    if (stop()) throw new Error('interrupted')
    const writes = []
    for (let j = i; j < Math.min(count, i + WRITE_BATCH); j++) {
      // As the plugin hands them over: strings parsed out of a verified token's payload.
      const ref = JSON.parse(`{"sub":"other-${j}","jti":"${randomUUID()}","fam":"${randomUUID()}"}`)
      writes.push(store.revokeToken(ref, TTL))
    }
    await Promise.all(writes)
  }
  return { victim, fillMs: Date.now() - started }
}

/** The guard refuses the revoked token (so the store filled is the one it reads) and accepts ours. */
async function checkGuard (app, token, victim) {
  const call = t => new Promise(resolve => { const r = requestLike(t); app.requireAccess(r, replyLike, err => resolve({ err, r })) })
  const ok = await call(token)
  assert.equal(ok.err, undefined, `requireAccess refused the bench token: ${ok.err?.message}`)
  assert.equal(ok.r.tokenPayload.sub, SUBJECT)
  if (victim !== undefined) {
    const { err } = await call(victim)
    assert.equal(err?.code, 'FST_AUTHX_REVOKED_TOKEN', 'a revoked token was not refused: the fill did not reach the guard\'s store')
  }
}

/** ops/s of the guard, synchronous path (MemoryStore): BATCH calls between clock reads. */
function syncRun (hook, request, ms) {
  let failure
  let calls = 0
  const done = err => { if (err !== undefined && err !== null) failure = err; calls++ }
  const budget = BigInt(ms) * 1_000_000n
  const start = process.hrtime.bigint()
  let ops = 0
  let elapsed = 0n
  do {
    request.tokenPayload = null
    for (let i = 0; i < BATCH; i++) hook(request, replyLike, done)
    ops += BATCH
    if (failure !== undefined) throw failure
    if (calls !== ops) throw new Error('requireAccess did not complete synchronously with the MemoryStore')
    sink += request.tokenPayload.jti.length
    elapsed = process.hrtime.bigint() - start
  } while (elapsed < budget)
  return ops / (Number(elapsed) / 1e9)
}

/** ops/s of the guard with IN_FLIGHT calls at a time; onCpu, if given, gets this process's CPU µs per call. */
function asyncRun (hook, token, ms, onCpu) {
  return new Promise((resolve, reject) => {
    const end = process.hrtime.bigint() + BigInt(ms) * 1_000_000n
    const start = process.hrtime.bigint()
    const cpu0 = process.cpuUsage()
    let ops = 0
    let active = IN_FLIGHT
    let stop = false
    let failure
    const finish = () => {
      if (failure !== undefined) reject(failure)
      else {
        const cpu = process.cpuUsage(cpu0)
        onCpu?.((cpu.user + cpu.system) / ops)
        resolve(ops / (Number(process.hrtime.bigint() - start) / 1e9))
      }
    }
    const worker = request => {
      for (;;) {
        if (stop) { if (--active === 0) finish(); return }
        let inCall = true
        let syncDone = false
        request.tokenPayload = null
        hook(request, replyLike, err => {
          if (err !== undefined && err !== null) { failure ??= err; stop = true }
          ops++
          if (request.tokenPayload === null) { failure ??= new Error('requireAccess left no payload'); stop = true }
          if ((ops & 31) === 0 && process.hrtime.bigint() >= end) stop = true
          if (inCall) syncDone = true
          else worker(request)
        })
        inCall = false
        if (!syncDone) return
      }
    }
    for (let i = 0; i < IN_FLIGHT; i++) worker(requestLike(token))
  })
}

// ---- MemoryStore: a child per size ----

async function memoryChild (size) {
  const app = await makeApp()
  const token = mint(app)
  const { victim, fillMs } = await fill(app, size)
  await checkGuard(app, token, victim)
  const request = requestLike(token)
  syncRun(app.requireAccess, request, quick ? 300 : 1000) // warm-up
  globalThis.gc?.()
  const entries = app.authx.store.size
  process.send({ ready: true, fillMs, entries, heapMB: process.memoryUsage().heapUsed / 1048576 })
  process.on('message', message => {
    if (message.run !== undefined) process.send({ opsPerSec: syncRun(app.requireAccess, request, message.run) })
  })
  process.on('disconnect', () => { app.close().finally(() => process.exit(0)) })
}

function ask (child, message) {
  return new Promise((resolve, reject) => {
    const onExit = code => reject(new Error(`growth child exited (${code})`))
    child.once('exit', onExit)
    child.once('message', answer => { child.off('exit', onExit); resolve(answer) })
    if (message !== undefined) child.send(message)
  })
}

async function memoryGrowth () {
  const children = MEMORY_SIZES.map(size => fork(__filename, [`--child=${size}`, ...(quick ? ['--quick'] : [])], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  try {
    // One after the other: filling is the only time they compete for the core.
    const ready = []
    for (const child of children) ready.push(await ask(child))
    const samples = MEMORY_SIZES.map(() => [])
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < children.length; i++) samples[i].push((await ask(children[i], { run: ROUND_MS })).opsPerSec)
    }
    const sizes = MEMORY_SIZES.map((size, i) => ({ size, opsPerSec: median(samples[i]), samples: samples[i], entries: ready[i].entries, fillMs: ready[i].fillMs, heapMB: ready[i].heapMB }))
    return { store: 'memory', statistic: `median of ${ROUNDS} rotating rounds x ${ROUND_MS} ms`, sizes, ratio: sizes.at(-1).opsPerSec / sizes[0].opsPerSec, largest: sizes.at(-1).size }
  } finally {
    for (const child of children) if (child.connected) child.disconnect()
  }
}

// ---- RedisStore: one database per size, rotating rounds ----

/** REDIS_URL with another database (SELECT n): the sizes' keyspaces sit side by side on the one server. */
function withDb (url, db) {
  const u = new URL(url)
  u.pathname = `/${db}`
  return u.toString()
}

/**
 * One admin client per size, each checked to be on its own database: a client whose SELECT fails (a number
 * past the server's `databases`) still connects, to database 0, so SELECT is asked again here, where it throws.
 * Each database must hold nothing yet, or a size would not be the size it says.
 */
async function connectDatabases () {
  const last = REDIS_DB + REDIS_SIZES.length - 1
  const where = `Redis at ${REDIS_URL}, databases ${REDIS_DB}-${last}`
  if (!Number.isInteger(REDIS_DB) || REDIS_DB < 0) return { skipped: `GROWTH_REDIS_DB must be a database number, not ${process.env.GROWTH_REDIS_DB}` }
  const admins = []
  try {
    for (let db = REDIS_DB; db <= last; db++) {
      const admin = await connectNode(withDb(REDIS_URL, db))
      admins.push(admin)
      await admin.select(db)
      const held = await admin.dbsize()
      if (held !== 0) throw new Error(`database ${db} holds ${held} keys already; GROWTH_REDIS_DB picks other ones`)
    }
    return { admins }
  } catch (err) {
    for (const admin of admins) admin.disconnect()
    return { skipped: `${where}: ${err.message}` }
  }
}

async function redisGrowth () {
  const { admins, skipped } = await connectDatabases()
  if (skipped !== undefined) return { store: 'redis', skipped }
  const prefix = uniquePrefix('growth')
  const stores = REDIS_SIZES.map((_, i) => new authx.RedisStore({ url: withDb(REDIS_URL, REDIS_DB + i), prefix }))
  const apps = []
  const cleanup = async () => (await Promise.all(admins.map(admin => deleteByPrefix(admin, prefix)))).reduce((a, b) => a + b, 0)
  // A signal stops the fill or the rounds at the next step; the finally below deletes what was written, then the
  // signal is raised again (a cleanup started at once would miss the writes still in flight).
  let interrupted
  const onSignal = signal => { interrupted = signal }
  const stop = () => interrupted !== undefined
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const fills = []
    for (const [i, size] of REDIS_SIZES.entries()) {
      const app = await makeApp({ store: stores[i] })
      apps.push(app)
      const token = mint(app)
      const { victim, fillMs } = await fill(app, size, stop)
      await checkGuard(app, token, victim)
      fills.push({ token, fillMs })
    }
    // Redis keeps working after a large fill (its keyspace is rehashed incrementally, partly in its
    // timer): measured at once, the first rounds after 100k writes ran at half the speed of the last.
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
    if (stop()) throw new Error('interrupted')
    for (const [i, app] of apps.entries()) await asyncRun(app.requireAccess, fills[i].token, quick ? 300 : 800) // warm-up, and the store's connection
    const samples = REDIS_SIZES.map(() => [])
    const cpuSamples = REDIS_SIZES.map(() => [])
    for (let r = 0; r < REDIS_ROUNDS; r++) {
      if (stop()) throw new Error('interrupted')
      for (const [i, app] of apps.entries()) samples[i].push(await asyncRun(app.requireAccess, fills[i].token, REDIS_ROUND_MS, us => cpuSamples[i].push(us)))
    }
    const dbsize = await Promise.all(admins.map(admin => admin.dbsize()))
    const sizes = REDIS_SIZES.map((size, i) => ({
      size, db: REDIS_DB + i, opsPerSec: median(samples[i]), samples: samples[i], cpuUs: median(cpuSamples[i]), cpuSamples: cpuSamples[i], fillMs: fills[i].fillMs, dbsize: dbsize[i]
    }))
    const filled = REDIS_SIZES.reduce((a, b) => a + b, 0)
    const deleted = await cleanup()
    assert.equal(deleted, filled, `deleted ${deleted} keys of ${prefix}, wrote ${filled}`)
    return {
      store: 'redis',
      url: REDIS_URL,
      statistic: `median of ${REDIS_ROUNDS} rotating rounds x ${REDIS_ROUND_MS} ms, one database per size (${REDIS_DB}-${REDIS_DB + REDIS_SIZES.length - 1}), ` +
        `${IN_FLIGHT} calls in flight; the ratio is by the guard's CPU per call (this process), ops/s also depend on Redis's own work on the same cores`,
      sizes,
      deleted,
      // the guard's cost: CPU per call, 0 ÷ largest (higher is better, as the other ratios)
      ratio: sizes[0].cpuUs / sizes.at(-1).cpuUs,
      opsRatio: sizes.at(-1).opsPerSec / sizes[0].opsPerSec,
      largest: sizes.at(-1).size
    }
  } finally {
    for (const app of apps) await app.close()
    for (const store of stores) await store.close().catch(() => {})
    await withTimeout(cleanup(), 60_000, 'cleanup').catch(err => console.error(`growth: could not delete ${prefix}* keys: ${err.message}`))
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    for (const admin of admins) admin.disconnect()
    if (interrupted !== undefined) process.kill(process.pid, interrupted)
  }
}

async function main () {
  const child = args.find(a => a.startsWith('--child='))
  if (child !== undefined) return await memoryChild(Number(child.slice(8)))
  const results = []
  if (stores.includes('memory')) results.push(await memoryGrowth())
  if (stores.includes('redis')) results.push(await redisGrowth())
  if (json) {
    process.stdout.write(JSON.stringify({ results, sink }) + '\n')
    return
  }
  for (const r of results) {
    if (r.skipped !== undefined) { console.log(`${r.store}: SKIPPED: ${r.skipped}`); continue }
    console.log(`${r.store} (${r.statistic})`)
    for (const s of r.sizes) console.log(`  ${String(s.size).padStart(9)} revoked  ${Math.round(s.opsPerSec).toLocaleString('en-US').padStart(9)} ops/s${s.cpuUs === undefined ? '' : `  ${s.cpuUs.toFixed(2)} µs CPU a call`}${s.fillMs ? `  (filled in ${s.fillMs} ms)` : ''}`)
    console.log(`  ${r.largest.toLocaleString('en-US')} / 0: ${r.ratio.toFixed(2)}`)
  }
}

main().catch(err => { console.error(err); process.exit(1) })
