'use strict'
// The soak test: `npm run soak` (or, after `npm run build`, `node bench/soak.js [--seconds 60]`).
// Two app processes (bench/soak-app.js) share one private Redis (AOF on, appendfsync everysec) on
// loopback; virtual users drive them over real HTTP: logins, guarded requests, rotations, reuse
// attempts, rotation races across both instances, revocations, "log out everywhere". Halfway through,
// Redis is restarted. It prints one table. Every loop is bounded in count and in time.
//
// What it checks: no revoked token is ever accepted (each token is tracked with every revocation that
// covers it, dated when that revocation resolved; a request sent after that which got a 2xx counts),
// and no rotation has more than one winner (the same refresh token sent at once to both instances).
const { spawn } = require('node:child_process')
const { mkdtempSync, rmSync } = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { Redis } = require('ioredis')

const args = process.argv.slice(2)
const at = args.indexOf('--seconds')
const SECONDS = at >= 0 ? Number(args[at + 1]) : Number((args.find(a => a.startsWith('--seconds=')) ?? '--seconds=60').slice(10))
if (!Number.isFinite(SECONDS) || SECONDS < 10 || SECONDS > 3600) throw new Error('--seconds: a number from 10 to 3600')
const USERS = 12
const REQUEST_TIMEOUT_MS = 5000
const MAX_ITERATIONS = 1_000_000 // per user: a bound besides time

const now = () => performance.now()
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function freePort () {
  return await new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => resolve(port)) })
  })
}

/** A private redis-server with AOF (everysec), restartable on the same port and folder. */
class RedisProcess {
  constructor (port, dir) { this.port = port; this.dir = dir; this.child = null }
  async start () {
    this.startedAt = now()
    this.child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(this.port), '--dir', this.dir,
      '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'], { stdio: 'ignore' })
    for (let i = 0; i < 200; i++) {
      if (await this.ping()) return
      await sleep(10)
    }
    throw new Error('redis-server did not answer')
  }

  async ping () {
    const c = new Redis({ port: this.port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 300, enableReadyCheck: false })
    c.on('error', () => {})
    try { await c.connect(); return (await c.ping()) === 'PONG' } catch { return false } finally { c.disconnect() }
  }

  /** SIGTERM: Redis shuts down as on a restart, writing its AOF out first. */
  async stop () {
    const child = this.child
    if (child === null || child.exitCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGTERM')
    await Promise.race([exited, sleep(10_000)])
    if (child.exitCode === null) child.kill('SIGKILL')
    this.child = null
  }
}

function startApp (redisUrl) {
  const child = spawn(process.execPath, ['--expose-gc', path.join(__dirname, 'soak-app.js')], {
    env: { ...process.env, REDIS_URL: redisUrl }, stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  return new Promise((resolve, reject) => {
    child.once('message', ({ port }) => resolve({ child, base: `http://127.0.0.1:${port}` }))
    child.once('exit', code => reject(new Error(`soak app exited (${code}) before listening`)))
  })
}

// --- what the run records -------------------------------------------------------------------------
const outcomes = { '2xx': 0, 401: 0, 403: 0, 503: 0, 'other 5xx': 0, other: 0, 'no answer': 0 }
const latencies = []
let revokedAccepted = 0
let revokedTried = 0
let multiWinnerRotations = 0
let races = 0
let revocations = 0
let restartStartedAt = -1 // the new redis-server process was spawned
let restartAnsweredAt = -1 // it answered PING (the driver's own connection)
const firstOkAfterRestart = new Map() // app base → time of its first 2xx once the new process was spawned

async function request (app, method, url, { token, body } = {}) {
  const headers = {}
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const sent = now()
  let status = 0
  let json
  try {
    const res = await fetch(app.base + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
    status = res.status
    json = await res.json().catch(() => undefined)
  } catch { status = 0 }
  const done = now()
  latencies.push(done - sent)
  const bucket = status >= 200 && status < 300 ? '2xx' : status === 401 || status === 403 || status === 503 ? status : status >= 500 ? 'other 5xx' : status === 0 ? 'no answer' : 'other'
  outcomes[bucket]++
  // (no 2xx is possible while Redis is down: every route but /admin's 403 needs the store)
  if (bucket === '2xx' && restartStartedAt >= 0 && !firstOkAfterRestart.has(app.base)) firstOkAfterRestart.set(app.base, done)
  return { status, json, sent, done }
}

/** Each token with the time from which it must be refused (the earliest revocation covering it that resolved). */
class Ledger {
  constructor () { this.tokens = new Map(); this.families = new Map(); this.cutoffs = [] }
  issued (token, family, receivedAt) { this.tokens.set(token, { family, receivedAt, revokedAt: Infinity }) }
  revokeToken (token, resolvedAt) { const t = this.tokens.get(token); if (t !== undefined) t.revokedAt = Math.min(t.revokedAt, resolvedAt) }
  revokeFamily (family, resolvedAt) { if (!this.families.has(family)) this.families.set(family, resolvedAt) }
  /** "log out everywhere": tokens received before the call was sent are covered once it resolved */
  revokeAll (sentAt, resolvedAt) { this.cutoffs.push({ sentAt, resolvedAt }) }
  /** when this token must be refused from; Infinity when never */
  refusedFrom (token) {
    const t = this.tokens.get(token)
    if (t === undefined) return Infinity
    let from = Math.min(t.revokedAt, this.families.get(t.family) ?? Infinity)
    for (const c of this.cutoffs) if (t.receivedAt < c.sentAt) from = Math.min(from, c.resolvedAt)
    return from
  }

  /** A 2xx for a request sent after a revocation covering its token resolved is a revoked token accepted. */
  check (token, result) {
    if (result.sent <= this.refusedFrom(token)) return
    revokedTried++
    if (result.status >= 200 && result.status < 300) revokedAccepted++
  }
}

/** One virtual user: a subject of its own, its own sessions, sequential requests to either instance. */
async function user (id, apps, deadline) {
  const ledger = new Ledger()
  const sub = `soak:{user}:${id}:ü`
  const pick = () => apps[Math.random() < 0.5 ? 0 : 1]
  const famOf = token => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).fam
  let pair = null
  for (let i = 0; i < MAX_ITERATIONS && now() < deadline; i++) {
    if (pair === null) {
      const r = await request(pick(), 'POST', '/login', { body: { user: sub } })
      if (r.status === 200) {
        pair = r.json
        ledger.issued(pair.access_token, famOf(pair.access_token), r.done)
        ledger.issued(pair.refresh_token, famOf(pair.refresh_token), r.done)
      } else await sleep(20)
      continue
    }
    const dice = Math.random()
    if (dice < 0.70) {
      const r = await request(pick(), 'GET', '/protected', { token: pair.access_token })
      ledger.check(pair.access_token, r)
      if (r.status === 401) pair = null
    } else if (dice < 0.75) {
      const r = await request(pick(), 'GET', '/admin', { token: pair.access_token })
      ledger.check(pair.access_token, r)
      if (r.status === 401) pair = null
    } else if (dice < 0.87) {
      const old = pair
      const r = await request(pick(), 'POST', '/refresh', { token: old.refresh_token })
      ledger.check(old.refresh_token, r)
      if (r.status === 200) {
        pair = r.json
        const fam = famOf(pair.access_token)
        ledger.issued(pair.access_token, fam, r.done)
        ledger.issued(pair.refresh_token, fam, r.done)
        if (Math.random() < 0.3) {
          // a reuse attempt: the rotated token again (grace 0) is reuse, and ends the family
          const reuse = await request(pick(), 'POST', '/refresh', { token: old.refresh_token })
          ledger.check(old.refresh_token, reuse)
          if (reuse.status === 401 && reuse.json?.code === 'FST_AUTHX_REFRESH_TOKEN_REUSED') ledger.revokeFamily(fam, reuse.done)
          if (reuse.status === 401) pair = null
        }
      } else if (r.status === 401) pair = null
    } else if (dice < 0.92) {
      // a race: the same refresh token to both instances at once, four times; at most one may win
      races++
      const token = pair.refresh_token
      const results = await Promise.all([0, 1, 0, 1].map(k => request(apps[k], 'POST', '/refresh', { token })))
      for (const r of results) ledger.check(token, r)
      const winners = results.filter(r => r.status === 200)
      if (winners.length > 1) multiWinnerRotations++
      const fam = famOf(token)
      if (results.some(r => r.json?.code === 'FST_AUTHX_REFRESH_TOKEN_REUSED')) {
        ledger.revokeFamily(fam, Math.max(...results.map(r => r.done)))
        // the winner's pair belongs to the ended family: tracked, and tried below
        for (const w of winners) { ledger.issued(w.json.access_token, fam, w.done); ledger.issued(w.json.refresh_token, fam, w.done) }
        for (const w of winners) ledger.check(w.json.access_token, await request(pick(), 'GET', '/protected', { token: w.json.access_token }))
        pair = null
      } else if (winners.length === 1) {
        pair = winners[0].json
        ledger.issued(pair.access_token, fam, winners[0].done)
        ledger.issued(pair.refresh_token, fam, winners[0].done)
      } else pair = null
    } else if (dice < 0.98) {
      const token = pair.access_token
      const r = await request(pick(), 'POST', '/logout', { token })
      if (r.status === 200) { revocations++; ledger.revokeToken(token, r.done) }
      ledger.check(token, await request(pick(), 'GET', '/protected', { token }))
      pair = null
    } else {
      const token = pair.access_token
      const r = await request(pick(), 'POST', '/logout-all', { token })
      if (r.status === 200) { revocations++; ledger.revokeAll(r.sent, r.done) }
      ledger.check(token, await request(pick(), 'GET', '/protected', { token }))
      pair = null
    }
    // a token revoked earlier, tried again now and then (a stolen token after logout)
    if (i % 25 === 0) {
      for (const [token, info] of ledger.tokens) {
        if (ledger.refusedFrom(token) < now() && info.receivedAt > 0) {
          ledger.check(token, await request(pick(), 'GET', '/protected', { token }))
          break
        }
      }
    }
  }
}

function percentile (sorted, p) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}

async function heapOf (app) {
  const res = await fetch(app.base + '/heap', { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  return (await res.json()).heapUsed
}

async function main () {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'authx-soak-'))
  const redis = new RedisProcess(await freePort(), dir)
  const apps = []
  try {
    await redis.start()
    const url = `redis://127.0.0.1:${redis.port}`
    apps.push(await startApp(url), await startApp(url))
    console.log(`soak: ${SECONDS} s, ${USERS} users, two app processes, Redis (AOF everysec) on 127.0.0.1:${redis.port}; restart at ${Math.round(SECONDS / 2)} s`)
    // warm-up, then the heap baseline
    const warm = now() + 2000
    await Promise.all(Array.from({ length: 4 }, (_, i) => user(`warm-${i}`, apps, warm)))
    const heapBefore = await Promise.all(apps.map(heapOf))
    for (const k of Object.keys(outcomes)) outcomes[k] = 0
    latencies.length = 0
    revokedAccepted = 0
    revokedTried = 0
    multiWinnerRotations = 0
    races = 0
    revocations = 0

    const started = now()
    let stoppedAt = 0
    const deadline = started + SECONDS * 1000
    const restart = (async () => {
      await sleep(SECONDS * 500)
      stoppedAt = now()
      await redis.stop()
      await sleep(1000)
      const starting = redis.start() // resolves once Redis answers PING
      restartStartedAt = redis.startedAt
      await starting
      restartAnsweredAt = now()
    })()
    await Promise.all([restart, ...Array.from({ length: USERS }, (_, i) => user(i, apps, deadline))])
    const elapsed = (now() - started) / 1000
    const heapAfter = await Promise.all(apps.map(heapOf))

    const sorted = latencies.slice().sort((a, b) => a - b)
    const total = Object.values(outcomes).reduce((a, b) => a + b, 0)
    const recovery = apps.map(app => firstOkAfterRestart.get(app.base)).map(t => t === undefined ? undefined : t - restartAnsweredAt)
    const mb = n => (n / 1048576).toFixed(1) + ' MB'
    const rows = [
      ['requests', `${total} in ${elapsed.toFixed(0)} s (${(total / elapsed).toFixed(0)}/s)`],
      ['2xx', outcomes['2xx']],
      ['401', outcomes[401]],
      ['403', outcomes[403]],
      ['503', outcomes[503]],
      ['other 5xx', outcomes['other 5xx']],
      ['other / no answer', outcomes.other + outcomes['no answer']],
      ['revocations resolved (logout, log out everywhere)', revocations],
      ['requests with a token revoked before they were sent', revokedTried],
      ['revoked tokens accepted (must be 0)', revokedAccepted],
      ['rotation races (4 at once, both instances)', races],
      ['rotations with more than one winner (must be 0)', multiWinnerRotations],
      ['latency p50 / p99', `${percentile(sorted, 0.5).toFixed(1)} ms / ${percentile(sorted, 0.99).toFixed(1)} ms`],
      ['recovery after the Redis restart: first 2xx per app, from the driver\'s first PONG¹', recovery.map(r => r === undefined ? 'none' : `${r.toFixed(0)} ms`).join(' / ')],
      ['Redis down (SIGTERM → new process answers PING)', `${(restartAnsweredAt - stoppedAt).toFixed(0)} ms`],
      ['heap before → after (app 1)', `${mb(heapBefore[0])} → ${mb(heapAfter[0])}`],
      ['heap before → after (app 2)', `${mb(heapBefore[1])} → ${mb(heapAfter[1])}`]
    ]
    console.log('\n| what | figure |\n|---|---:|')
    for (const [what, figure] of rows) console.log(`| ${what} | ${figure} |`)
    console.log('\n¹ negative: the app answered 2xx before the driver\'s own PING (a new connection every 10 ms) got its PONG.')
    const failed = revokedAccepted > 0 || multiWinnerRotations > 0 || outcomes['other 5xx'] > 0 || recovery.includes(undefined)
    if (failed) {
      console.error('\nsoak: FAILED (a revoked token accepted, a rotation with two winners, a 5xx other than 503, or no recovery)')
      process.exitCode = 1
    }
  } finally {
    for (const { child } of apps) { if (child.connected) child.send('close'); setTimeout(() => child.kill('SIGKILL'), 3000).unref() }
    await Promise.all(apps.map(({ child }) => new Promise(resolve => { if (child.exitCode !== null) resolve(); else child.once('exit', resolve) })))
    await redis.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch(err => {
  console.error(err)
  process.exitCode = 1
})
