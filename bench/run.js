'use strict'
// The benchmark: `npm run bench` (or, after `npm run build`, `node bench/run.js [--quick]`).
// Four parts, then a summary of every target (PASS / MISS / SKIPPED) and a chart of the ratios:
//   http:   the server (bench/server.js) runs in a child pinned to core 0; this process drives it with
//           autocannon from core 1. Routes are measured in alternating rounds (A B C … A B C …) so that drift
//           falls on all alike: HS256 routes, Redis (one node, Cluster), RS256 / ES256 / EdDSA.
//   micro:  bench/micro.js: requireAccess in-process beside fast-jwt's verifier and a node:crypto floor;
//           createTokenPair beside two fast-jwt signers.
//   growth: bench/growth.js: the guard with 0 … 1M revoked jtis, MemoryStore and RedisStore.
//   memory: bench/store-memory.js: the heap 1M revoked jtis take in the MemoryStore.
// Options: --quick (about two minutes; the default about eleven), --parts=http,micro,growth,memory,
// --routes=authx,floor (plain is always run), --chart=docs/bench.svg (also write the chart there),
// --cpu-prof (server CPU profile into bench/results/profiles/).
// Redis: REDIS_URL (default redis://127.0.0.1:6379); Cluster: REDIS_CLUSTER_NODES (default 127.0.0.1:7000-7005).
// The bench exits 0 whatever it measured, and non-zero when a route or a part answered wrongly.
const { spawn, spawnSync } = require('node:child_process')
const { existsSync, mkdirSync, writeFileSync, readFileSync } = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const autocannon = require('autocannon')
const { benchChart } = require('./chart')

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const cpuProf = args.includes('--cpu-prof')
const only = args.find(a => a.startsWith('--routes='))?.slice(9).split(',')
const parts = (args.find(a => a.startsWith('--parts='))?.slice(8) ?? 'http,micro,growth,memory').split(',')
const chartCopy = args.find(a => a.startsWith('--chart='))?.slice(8)
const CONNECTIONS = 10
// Whole seconds: autocannon rounds a run up to its next 1 s tick.
const WARMUP_S = quick ? 1 : 2
const ROUNDS = quick ? 4 : 6 // even: each order (forward, reverse) as often
const ROUND_S = quick ? 1 : 3
const RESULTS = path.join(__dirname, 'results')
const DIST = path.join(__dirname, '..', 'dist')

// Read before this process pins itself to one core (availableParallelism follows the affinity).
const CORES = os.availableParallelism()
const canPin = spawnSync('taskset', ['-V']).status === 0 && CORES >= 2
const node = process.execPath
let failed = false

/** Starts bench/server.js (pinned to core 0) and waits for its { port, routes, notes, skipped }. */
function startServer () {
  const flags = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.join(RESULTS, 'profiles')}`] : []
  const argv = [...flags, path.join(__dirname, 'server.js')]
  const child = canPin
    ? spawn('taskset', ['-c', '0', node, ...argv], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    : spawn(node, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    child.once('message', info => resolve({ child, ...info }))
    child.once('exit', code => reject(new Error(`bench server exited (${code}) before listening`)))
  })
}

/** CPU seconds a process has used so far (Linux /proc), or NaN. */
function cpuSeconds (pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100 // utime + stime, in USER_HZ ticks
  } catch { return NaN }
}

/** CPU seconds the whole machine spent busy so far (Linux /proc/stat), or NaN. */
function machineBusySeconds () {
  try {
    const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number)
    return (ticks.reduce((a, b) => a + b, 0) - ticks[3] - ticks[4]) / 100 // all but idle and iowait
  } catch { return NaN }
}

/** Each route answers 200 with its credentials, and 401 without each of them (so its guard really runs). */
async function check (base, route) {
  const send = headers => fetch(base + route.path, { method: route.method, headers }).then(r => r.status)
  const status = await send(route.headers)
  if (status !== 200) return `answered ${status}, not 200`
  if (!route.guarded) return null
  for (const name of Object.keys(route.headers)) {
    const rest = { ...route.headers }
    delete rest[name]
    const without = await send(rest)
    if (without !== 401) return `answered ${without} without ${name}: is the guard on the route?`
  }
  return null
}

/** One autocannon run; latencies recorded here in µs (autocannon's own histogram keeps whole ms). */
async function measure (base, route, seconds, serverPid) {
  const histogram = new Uint32Array(100_000) // 1 µs buckets up to 100 ms
  const cpu0 = process.cpuUsage()
  const srv0 = cpuSeconds(serverPid)
  const t0 = process.hrtime.bigint()
  const options = { url: base + route.path, method: route.method, headers: route.headers, connections: CONNECTIONS, duration: seconds }
  if (route.cycle !== undefined) {
    // one Authorization header after the other, from the route's list (many subjects)
    let next = 0
    options.requests = [{ setupRequest: request => ({ ...request, headers: { ...request.headers, authorization: route.cycle[next++ % route.cycle.length] } }) }]
  }
  const instance = autocannon(options)
  instance.on('response', (_client, _status, _bytes, ms) => { histogram[Math.min(histogram.length - 1, Math.round(ms * 1000))]++ })
  const r = await instance
  const wall = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  const serverSeconds = cpuSeconds(serverPid) - srv0
  return {
    rps: r.requests.total / r.duration,
    // Server CPU time per request: unlike req/s, it barely moves when something else takes the core.
    cpuUs: serverSeconds * 1e6 / r.requests.total,
    bad: r.non2xx + r.errors + r.timeouts,
    // What the bad answers were: a 503 is the plugin failing closed on a store call slower than storeTimeout.
    badKinds: {
      ...Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).filter(([code]) => !code.startsWith('2')).map(([code, { count }]) => [code, count])),
      ...(r.errors > 0 ? { errors: r.errors } : {}),
      ...(r.timeouts > 0 ? { timeouts: r.timeouts } : {})
    },
    histogram,
    driverCpu: (cpu.user + cpu.system) / 1e6 / wall,
    serverCpu: serverSeconds / wall
  }
}

/** The bad answers of all rounds, by kind: '12 x 503, 1 errors'. */
function badKinds (rounds) {
  const total = {}
  for (const r of rounds) for (const [kind, n] of Object.entries(r.badKinds)) total[kind] = (total[kind] ?? 0) + n
  return Object.entries(total).map(([kind, n]) => /^\d+$/.test(kind) ? `${n} x ${kind}` : `${n} ${kind}`).join(', ')
}

function percentile (histogram, p) {
  let total = 0
  for (const n of histogram) total += n
  let seen = 0
  for (let us = 0; us < histogram.length; us++) {
    seen += histogram[us]
    if (seen >= total * p) return us
  }
  return NaN
}

/** Runs a node script pinned to core 0 (the server is gone by then) and returns its stdout. */
function runScript (nodeArgs) {
  const command = canPin ? ['taskset', ['-c', '0', node, ...nodeArgs]] : [node, nodeArgs]
  const r = spawnSync(command[0], command[1], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 })
  if (r.status !== 0) throw new Error(`${nodeArgs.join(' ')} failed: ${(r.stderr || String(r.error ?? r.signal)).trim()}`)
  return r.stdout
}

/** CPU seconds this process and its children it has waited for (spawnSync's, and theirs) have used so far, or NaN. */
function familyCpuSeconds () {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100 // utime stime cutime cstime
  } catch { return NaN }
}

/**
 * Runs an in-process part (a script pinned to core 0); one that throws is reported (and makes the exit code
 * non-zero), and the other parts still run. Records how much of a core other processes used meanwhile.
 */
function runPart (name, fn) {
  const t0 = process.hrtime.bigint()
  const busy0 = machineBusySeconds()
  const own0 = familyCpuSeconds()
  let result
  try {
    result = fn()
  } catch (err) {
    failed = true
    console.log(`\n${name}: FAILED: ${err.message}`)
    result = { failed: err.message }
  }
  const others = Math.max(0, (machineBusySeconds() - busy0 - (familyCpuSeconds() - own0)) / (Number(process.hrtime.bigint() - t0) / 1e9))
  if (Number.isFinite(others)) console.log(`Other processes used ${fmt(others * 100)}% of a core during the ${name} part${others > 0.15 ? ': the machine was busy' : ''}.`)
  return { ...result, otherProcessesCpu: others }
}

const fmt = (n, digits = 0) => Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-'
const mean = a => a.reduce((x, y) => x + y, 0) / a.length

function table (header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => String(r[i]).length)))
  const line = r => r.map((c, i) => i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])).join('  ')
  return [line(header), widths.map(w => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

/** Where a route comes in each round: the routes each target or bound compares sit at most two places apart. */
const MEASURING_ORDER = ['plain', 'authx-cache', 'empty-authx', 'empty-hook', 'fastify-jwt-cache', 'fastify-jwt', 'authx', 'fast-jwt', 'floor',
  'authx-redis', 'authx-cluster', 'authx-1000', 'authx-redis-1000', 'authx-cluster-1000', 'header-post', 'cookie']
function measuringRank (name) {
  const i = MEASURING_ORDER.indexOf(name)
  return i === -1 ? MEASURING_ORDER.length : i // the rest (asymmetric) after, in the server's order: stable sort
}

const median = a => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2 }

/**
 * A ratio of two routes: the median over rounds of a's figure ÷ b's in the same round. Both were measured
 * within seconds of each other in every round, so a round that other work disturbed weighs as one of five.
 * by: 'rps' (a's req/s ÷ b's) or 'cpu' (b's server CPU per request ÷ a's: the same sense, higher is better).
 */
function pairedRatio (summary, a, b, by = 'rps') {
  const x = summary[a]
  const y = summary[b]
  if (x?.invalid !== null || y?.invalid !== null) return NaN // not run, or invalid
  const rounds = Math.min(x.roundsRps.length, y.roundsRps.length)
  const ratios = []
  for (let r = 0; r < rounds; r++) ratios.push(by === 'rps' ? x.roundsRps[r] / y.roundsRps[r] : y.roundsCpuUs[r] / x.roundsCpuUs[r])
  return median(ratios)
}

async function httpPart () {
  const server = await startServer()
  const base = `http://127.0.0.1:${server.port}`
  const routes = server.routes.filter(r => only === undefined || r.name === 'plain' || only.includes(r.name))
  const skipped = server.skipped.filter(s => only === undefined || only.includes(s.name))
  console.log(`http: ${routes.length} routes; ${ROUNDS} rounds x ${ROUND_S} s per route after ${WARMUP_S} s of warm-up; ${CONNECTIONS} connections`)
  console.log(canPin ? 'server pinned to core 0, autocannon to core 1 (taskset)' : 'not pinned (no taskset or a single core): expect noise')
  console.log(`fastify-authx loaded from ${path.relative(process.cwd(), server.authx) || server.authx}`)
  if (!server.authx.startsWith(DIST + path.sep)) console.log(`WARNING: the server loaded fastify-authx from ${server.authx}, not from ${DIST}`)
  for (const note of server.notes) console.log(note)
  for (const s of skipped) console.log(`SKIPPED: ${s.name}: ${s.reason}`)
  console.log(`token: ${server.tokenBytes.header} bytes in the header (cookie routes: ${server.tokenBytes.cookie}, with the csrf claim; ` +
    `RS256 ${server.tokenBytes.rs256}, ES256 ${server.tokenBytes.es256}, EdDSA ${server.tokenBytes.eddsa})\n`)

  const stats = {}
  for (const route of routes) {
    const problem = await check(base, route)
    stats[route.name] = { route, invalid: problem, rounds: [] }
    if (problem !== null) { failed = true; console.log(`${route.name}: INVALID, ${problem}`) }
  }
  // Measured in an order that puts the routes each target compares next to each other, so that a burst of
  // other work falls on both sides of a ratio alike; printed in the server's order.
  const valid = routes.filter(r => stats[r.name].invalid === null)
    .sort((a, b) => measuringRank(a.name) - measuringRank(b.name))
  // What the rest of the machine used meanwhile: others' CPU on these two cores skews req/s.
  const before = { t: process.hrtime.bigint(), busy: machineBusySeconds(), server: cpuSeconds(server.child.pid), driver: process.cpuUsage() }
  for (const route of valid) await measure(base, route, WARMUP_S, server.child.pid)
  for (let round = 1; round <= ROUNDS; round++) {
    // Every other round in reverse (A B C … C B A …): whatever favours a place in the order (the route
    // before it, drift within a round) falls on both routes of a pair alike over the rounds.
    const order = round % 2 === 1 ? valid : [...valid].reverse()
    for (const route of order) stats[route.name].rounds.push(await measure(base, route, ROUND_S, server.child.pid))
    process.stdout.write(`round ${round}/${ROUNDS} done\n`)
  }
  const driver = process.cpuUsage(before.driver)
  const othersSeconds = machineBusySeconds() - before.busy - (cpuSeconds(server.child.pid) - before.server) - (driver.user + driver.system) / 1e6
  const others = Math.max(0, othersSeconds / (Number(process.hrtime.bigint() - before.t) / 1e9))
  server.child.disconnect()
  await new Promise(resolve => server.child.once('exit', resolve))

  const summary = {}
  for (const route of routes) {
    const s = stats[route.name]
    if (s.invalid !== null) { summary[route.name] = { invalid: s.invalid }; continue }
    const merged = new Uint32Array(100_000)
    for (const r of s.rounds) r.histogram.forEach((n, i) => { merged[i] += n })
    const rps = s.rounds.map(r => r.rps)
    const bad = s.rounds.reduce((n, r) => n + r.bad, 0)
    if (bad > 0) failed = true
    summary[route.name] = {
      rps: mean(rps),
      spread: (Math.max(...rps) - Math.min(...rps)) / mean(rps),
      cpuUs: mean(s.rounds.map(r => r.cpuUs)),
      p50: percentile(merged, 0.5),
      p99: percentile(merged, 0.99),
      bad,
      invalid: bad > 0 ? `${badKinds(s.rounds)} during the rounds` : null,
      serverCpu: mean(s.rounds.map(r => r.serverCpu)),
      driverCpu: mean(s.rounds.map(r => r.driverCpu)),
      roundsRps: rps,
      roundsCpuUs: s.rounds.map(r => r.cpuUs)
    }
  }
  const rows = routes.map(r => {
    const s = summary[r.name]
    if (s.rps === undefined || s.invalid !== null) return [r.name, 'INVALID', '', '', '', '', '', '', '', '']
    return [r.name, fmt(s.rps), `${fmt(s.spread * 100, 1)}%`, fmt(s.p50), fmt(s.p99), fmt(pairedRatio(summary, r.name, 'plain'), 2),
      fmt(s.cpuUs, 1), fmt(pairedRatio(summary, r.name, 'plain', 'cpu'), 2), `${fmt(s.serverCpu * 100)}%`, `${fmt(s.driverCpu * 100)}%`]
  })
  for (const s of skipped) rows.push([s.name, 'SKIPPED', '', '', '', '', '', '', '', ''])
  console.log('\n' + table(['route', 'req/s', 'spread', 'p50 µs', 'p99 µs', 'x plain', 'cpu µs', 'cpu x plain', 'server', 'driver'], rows))
  console.log(`
req/s: mean over rounds; spread: (max - min) / mean; p50/p99: latency over all rounds; x plain: the route's req/s
÷ plain's in the same round, median over rounds (every ratio below is such a paired median).
cpu µs: server CPU time per request; cpu x plain: plain's ÷ the route's, the same ratio by CPU time, which a busy
machine moves less. server/driver: CPU use of each process; a server well below 100% was not saturated.
Other processes used ${fmt(others * 100)}% of a core during the runs${others > 0.15 ? ': the machine was busy, req/s ratios are skewed; trust cpu x plain' : ''}.`)
  for (const r of routes) console.log(`  ${r.name.padEnd(18)} ${r.method.padEnd(4)} ${r.what}`)
  for (const r of routes) if (summary[r.name].invalid !== null) console.log(`INVALID: ${r.name}: ${summary[r.name].invalid}`)
  return {
    summary,
    routes: routes.map(r => ({ name: r.name, method: r.method, what: r.what, ...summary[r.name], ratioToPlain: pairedRatio(summary, r.name, 'plain'), cpuRatioToPlain: pairedRatio(summary, r.name, 'plain', 'cpu') })),
    skipped,
    notes: server.notes,
    tokenBytes: server.tokenBytes,
    otherProcessesCpu: others
  }
}

function microPart () {
  const micro = JSON.parse(runScript([path.join(__dirname, 'micro.js'), '--json', ...(quick ? ['--quick'] : [])]))
  const { verify, sign } = micro
  console.log(`\nmicro (in-process, pinned to core 0; median of ${micro.rounds} rotating rounds x ${micro.msPerRound} ms)`)
  console.log(table(['micro', 'ops/s', 'ratio'], [
    ...verify.cases.map(c => [c.name, fmt(c.opsPerSec), '']),
    ['requireAccess hook / fast-jwt verify', '', fmt(verify.hookToFastJwt, 2)],
    ['node:crypto floor / fast-jwt verify', '', fmt(verify.floorToFastJwt, 2)],
    ...sign.cases.map(c => [`${c.name} (${c.bytes} bytes a pair)`, fmt(c.opsPerSec), '']),
    ['createTokenPair / two signers', '', fmt(sign.ratio, 2)]
  ]))
  return micro
}

function growthPart () {
  const growth = JSON.parse(runScript([path.join(__dirname, 'growth.js'), '--json', ...(quick ? ['--quick'] : [])]))
  console.log('\ngrowth: requireAccess in-process with N revoked jtis of other subjects in the store')
  const rows = []
  for (const r of growth.results) {
    if (r.skipped !== undefined) { console.log(`SKIPPED: growth, ${r.store}: ${r.skipped}`); continue }
    for (const s of r.sizes) rows.push([`${r.store}, ${fmt(s.size)} revoked`, fmt(s.opsPerSec), s.cpuUs === undefined ? '' : fmt(s.cpuUs, 2), s.fillMs === undefined ? '' : fmt(s.fillMs)])
    rows.push([`${r.store}: ${fmt(r.largest)} / 0${r.opsRatio === undefined ? '' : ' (by CPU per call; ops/s: ' + fmt(r.opsRatio, 2) + ')'}`, fmt(r.ratio, 2), '', ''])
  }
  if (rows.length > 0) console.log(table(['store, size', 'ops/s', 'cpu µs/call', 'fill ms'], rows))
  for (const r of growth.results) if (r.statistic !== undefined) console.log(`  ${r.store}: ${r.statistic}`)
  return growth
}

function memoryPart () {
  const out = runScript(['--expose-gc', path.join(__dirname, 'store-memory.js')]).trim()
  console.log('\n' + out)
  return { output: out, mb: Number(/([\d.]+) MB/.exec(out)?.[1]) }
}

/** Every target of issue 15 (and the older ones still standing), with what was measured against it. */
function targetsOf ({ http, micro, growth, memory }) {
  const s = http?.summary ?? {}
  const ratio = (a, b) => pairedRatio(s, a, b)
  const cpuRatio = (a, b) => pairedRatio(s, a, b, 'cpu')
  /** Why a row has no value: skipped (Redis not reachable) or not measured (part not run, failed, route invalid). */
  const partWhy = (name, part) => part === undefined ? { why: `${name} part not run` } : part.failed === undefined ? {} : { why: `${name} part failed` }
  const httpWhy = (...names) => {
    if (http === undefined || http.failed !== undefined) return partWhy('http', http)
    for (const name of names) {
      const skipped = http.skipped.find(k => k.name === name)
      if (skipped !== undefined) return { skip: skipped.reason }
      if (s[name] === undefined) return { why: `route ${name} not run` }
      if (s[name].invalid !== null) return { why: `route ${name} invalid: ${s[name].invalid}` }
    }
    return {}
  }
  // bound: the same ratio with the plugin's route replaced by the least it can cost (BOUNDS), measured in this run.
  const http2 = (name, a, b, target, bound) => ({
    name, value: ratio(a, b), cpu: cpuRatio(a, b), target,
    ...(bound === undefined ? {} : { bound: ratio(bound, b), boundCpu: cpuRatio(bound, b), boundBy: bound }),
    ...httpWhy(a, b)
  })
  const k = n => n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n)
  const growthRow = store => {
    const g = growth?.results?.find(r => r.store === store)
    const name = `growth, ${store === 'memory' ? 'MemoryStore' : 'RedisStore'}: ${g?.largest === undefined ? '1M' : k(g.largest)} revoked / 0`
    const why = growth === undefined || growth.failed !== undefined ? partWhy('growth', growth) : g === undefined ? { why: `${store} not run` } : g.skipped !== undefined ? { skip: g.skipped } : {}
    return { name, value: g?.ratio, target: 0.90, ...why }
  }
  const microRow = (name, value, target) => ({ name, value, target, ...partWhy('micro', micro) })
  const rows = [
    microRow('requireAccess hook / fast-jwt verify (in-process)', micro?.verify?.hookToFastJwt, 0.90),
    http2('requireAccess / floor hook (HTTP)', 'authx', 'floor', 0.95, 'fast-jwt'),
    http2('requireAccess / @fastify/jwt (HTTP)', 'authx', 'fastify-jwt', 1.20, 'fast-jwt'),
    http2('verifyCache / plain (HTTP)', 'authx-cache', 'plain', 0.95, 'empty-authx'),
    http2('cookie+CSRF POST / header POST (HTTP)', 'cookie', 'header-post', 0.90),
    http2('RedisStore, one node / memory (HTTP)', 'authx-redis', 'authx', 0.80),
    http2('RedisStore, Cluster / memory (HTTP)', 'authx-cluster', 'authx', 0.80),
    growthRow('memory'),
    growthRow('redis'),
    microRow('createTokenPair / two signers (in-process)', micro?.sign?.ratio, 0.80)
  ].map(t => ({ ...t, comparison: '>=', unit: 'ratio' }))
  rows.push({ name: 'heap for 1M revoked jtis, MemoryStore (MB)', value: memory?.mb, target: 80, comparison: '<', unit: 'MB', ...partWhy('memory', memory) })
  return rows.map(({ skip, why, bound, boundCpu, boundBy, ...t }) => {
    if (Number.isFinite(t.value)) {
      const status = (t.comparison === '>=' ? t.value >= t.target : t.value < t.target) ? 'PASS' : 'MISS'
      if (!Number.isFinite(bound)) return { ...t, status }
      // out of reach: missed, and even the least the plugin's route could cost misses too (a pass above its bound is noise)
      return { ...t, bound, boundCpu, boundBy, outOfReach: status === 'MISS' && bound < t.target, status }
    }
    return { ...t, value: null, status: skip !== undefined ? 'SKIPPED' : 'NOT MEASURED', reason: skip ?? why ?? 'no value' }
  })
}

/** What each bound route stands for: the least the plugin's route it replaces can cost. */
const BOUNDS = {
  'fast-jwt': 'fast-jwt\'s bare verifier as the hook (every guard verifies through it)',
  'empty-authx': 'a hook that does nothing, in the plugin\'s context'
}

/** A line for each missed target with a bound: out of reach when the bound is below the target (no guard could have passed it in this run). */
function boundLines (targets) {
  return targets.filter(t => Number.isFinite(t.bound) && t.status === 'MISS').map(t => {
    const by = Number.isFinite(t.boundCpu) ? ` (by cpu ${fmt(t.boundCpu, 2)})` : ''
    return t.outOfReach
      ? `OUT OF REACH: ${t.name}: with ${BOUNDS[t.boundBy]}, the ratio is ${fmt(t.bound, 3)}${by}, below ${t.target.toFixed(2)}`
      : `within reach: ${t.name}: with ${BOUNDS[t.boundBy]}, the ratio is ${fmt(t.bound, 2)}${by}`
  })
}

/** Ratios measured without a target: each asymmetric algorithm, and the in-process floor. */
function reportedOf ({ http, micro }) {
  const s = http?.summary ?? {}
  const ratio = (a, b) => pairedRatio(s, a, b)
  const cpuRatio = (a, b) => pairedRatio(s, a, b, 'cpu')
  const rows = []
  for (const [prefix, alg] of [['rs256', 'RS256'], ['es256', 'ES256'], ['eddsa', 'EdDSA']]) {
    rows.push(
      { name: `${alg}: requireAccess / plain`, value: ratio(`${prefix}/authx`, 'plain'), cpu: cpuRatio(`${prefix}/authx`, 'plain') },
      { name: `${alg}: verifyCache / plain`, value: ratio(`${prefix}/authx-cache`, 'plain'), cpu: cpuRatio(`${prefix}/authx-cache`, 'plain') },
      { name: `${alg}: @fastify/jwt / plain`, value: ratio(`${prefix}/fastify-jwt`, 'plain'), cpu: cpuRatio(`${prefix}/fastify-jwt`, 'plain') },
      { name: `${alg}: requireAccess / @fastify/jwt`, value: ratio(`${prefix}/authx`, `${prefix}/fastify-jwt`), cpu: cpuRatio(`${prefix}/authx`, `${prefix}/fastify-jwt`) }
    )
  }
  rows.push(
    { name: 'RedisStore, one node / memory, 1,000 subjects in turn', value: ratio('authx-redis-1000', 'authx-1000'), cpu: cpuRatio('authx-redis-1000', 'authx-1000') },
    { name: 'RedisStore, Cluster / memory, 1,000 subjects in turn', value: ratio('authx-cluster-1000', 'authx-1000'), cpu: cpuRatio('authx-cluster-1000', 'authx-1000') },
    { name: 'node:crypto floor / fast-jwt verify (in-process)', value: micro?.verify?.floorToFastJwt }
  )
  return rows.filter(r => Number.isFinite(r.value))
}

async function main () {
  if (!existsSync(path.join(DIST, 'index.js'))) throw new Error('no build: run `npm run build` first (`npm run bench` does both)')
  if (canPin) spawnSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' })
  const started = Date.now()
  console.log(`fastify-authx bench: ${quick ? 'quick' : 'full'}; parts: ${parts.join(', ')}`)
  const results = {}
  if (parts.includes('http')) {
    try { results.http = await httpPart() } catch (err) { failed = true; console.log(`http: FAILED: ${err.message}`); results.http = { failed: err.message } }
  }
  // In-process parts, on the core the server used.
  if (parts.includes('micro')) results.micro = runPart('micro', microPart)
  if (parts.includes('growth')) results.growth = runPart('growth', growthPart)
  if (parts.includes('memory')) results.memory = runPart('memory', memoryPart)

  const targets = targetsOf(results)
  const reported = reportedOf(results)
  const shown = t => t.unit === 'MB' ? fmt(t.value, 1) : fmt(t.value, 2)
  console.log('\nTargets (issue 15: ratios measured side by side in this run; HTTP: median over rounds of paired req/s ratios, "by cpu" the same by server CPU per request)')
  console.log(table(['target', 'measured', 'by cpu', 'bound', 'wanted', 'result'],
    targets.map(t => [t.name, shown(t), Number.isFinite(t.cpu) ? fmt(t.cpu, 2) : '', Number.isFinite(t.bound) ? fmt(t.bound, 2) : '', `${t.comparison} ${t.unit === 'MB' ? `${t.target} MB` : t.target.toFixed(2)}`, t.status])))
  console.log('bound: the same ratio, in this run, with the plugin\'s route replaced by the least it can cost:')
  for (const [route, what] of Object.entries(BOUNDS)) console.log(`  ${route.padEnd(12)} ${what}`)
  for (const t of targets) if (t.reason !== undefined) console.log(`${t.status}: ${t.name}: ${t.reason}`)
  for (const line of boundLines(targets)) console.log(line)
  if (reported.length > 0) {
    console.log('\nReported, no target')
    console.log(table(['ratio', 'measured', 'by cpu'], reported.map(r => [r.name, fmt(r.value, 2), Number.isFinite(r.cpu) ? fmt(r.cpu, 2) : ''])))
  }
  const counts = ['PASS', 'MISS', 'SKIPPED', 'NOT MEASURED'].map(k => [k, targets.filter(t => t.status === k).length]).filter(([, n]) => n > 0)
  console.log(`\n${counts.map(([k, n]) => `${n} ${k}`).join(', ')} (a measurement: the bench exits 0 on a MISS)`)

  const othersInProcess = Math.max(...['micro', 'growth', 'memory'].map(p => results[p]?.otherProcessesCpu ?? NaN).filter(Number.isFinite))
  const meta = { mode: quick ? 'quick' : 'full', date: new Date().toISOString(), node: process.version, cpu: os.cpus()[0]?.model, cores: CORES, others: results.http?.otherProcessesCpu ?? NaN, othersInProcess }
  mkdirSync(RESULTS, { recursive: true })
  const svg = benchChart(targets, reported, meta)
  const chartFile = path.join(RESULTS, 'ratios.svg')
  writeFileSync(chartFile, svg)
  if (chartCopy !== undefined) {
    mkdirSync(path.dirname(path.resolve(chartCopy)), { recursive: true })
    writeFileSync(path.resolve(chartCopy), svg)
  }
  const file = path.join(RESULTS, `${meta.date.replace(/[:.]/g, '-')}-${meta.mode}.json`)
  writeFileSync(file, JSON.stringify({
    date: meta.date,
    mode: meta.mode,
    node: process.version,
    cpu: meta.cpu,
    cores: meta.cores,
    pinned: canPin,
    seconds: Math.round((Date.now() - started) / 1000),
    settings: { connections: CONNECTIONS, warmupSeconds: WARMUP_S, rounds: ROUNDS, roundSeconds: ROUND_S, parts },
    otherProcessesCpu: results.http?.otherProcessesCpu,
    notes: results.http?.notes,
    tokenBytes: results.http?.tokenBytes,
    routes: results.http?.routes,
    skipped: results.http?.skipped,
    micro: results.micro,
    growth: results.growth,
    memory: results.memory,
    targets,
    reported
  }, null, 2) + '\n')
  console.log(`results: ${path.relative(process.cwd(), file)}; chart: ${path.relative(process.cwd(), chartFile)}${chartCopy === undefined ? '' : ` and ${chartCopy}`}; ${Math.round((Date.now() - started) / 1000)} s`)
  if (failed) {
    console.log('FAILED: a route or a part answered wrongly (see above)')
    process.exitCode = 1
  }
}

main().catch(err => { console.error(err); process.exit(1) })
