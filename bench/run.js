'use strict'
// The benchmark: `npm run bench` (or, after `npm run build`, `node bench/run.js [--quick]`).
// The server (bench/server.js) runs in a child pinned to core 0; this process drives it with autocannon
// from core 1. Routes are measured in alternating rounds (A B C … A B C …) so that drift falls on all alike.
// Options: --quick (about a minute; the default takes about four), --routes=authx,floor (plain is always run),
// --cpu-prof (server CPU profile into bench/results/profiles/).
const { spawn, spawnSync } = require('node:child_process')
const { existsSync, mkdirSync, writeFileSync, readFileSync } = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const autocannon = require('autocannon')

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const cpuProf = args.includes('--cpu-prof')
const only = args.find(a => a.startsWith('--routes='))?.slice(9).split(',')
const CONNECTIONS = 10
// Whole seconds: autocannon rounds a run up to its next 1 s tick.
const WARMUP_S = quick ? 1 : 2
const ROUNDS = quick ? 3 : 5
const ROUND_S = quick ? 1 : 4
const RESULTS = path.join(__dirname, 'results')

const canPin = spawnSync('taskset', ['-V']).status === 0 && os.availableParallelism() >= 2
const node = process.execPath

/** Starts bench/server.js (pinned to core 0) and waits for its { port, routes, notes }. */
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
  const instance = autocannon({ url: base + route.path, method: route.method, headers: route.headers, connections: CONNECTIONS, duration: seconds })
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
    histogram,
    driverCpu: (cpu.user + cpu.system) / 1e6 / wall,
    serverCpu: serverSeconds / wall
  }
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
  const r = spawnSync(command[0], command[1], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${nodeArgs.join(' ')} failed: ${r.stderr.trim()}`)
  return r.stdout
}

const fmt = (n, digits = 0) => Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-'
const mean = a => a.reduce((x, y) => x + y, 0) / a.length

function table (header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => String(r[i]).length)))
  const line = r => r.map((c, i) => i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])).join('  ')
  return [line(header), widths.map(w => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

async function main () {
  if (!existsSync(path.join(__dirname, '..', 'dist', 'index.js'))) throw new Error('no build: run `npm run build` first (`npm run bench` does both)')
  if (canPin) spawnSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' })
  const server = await startServer()
  const base = `http://127.0.0.1:${server.port}`
  const routes = server.routes.filter(r => only === undefined || r.name === 'plain' || only.includes(r.name))
  console.log(`fastify-authx bench: ${quick ? 'quick' : 'full'}; ${ROUNDS} rounds x ${ROUND_S} s per route after ${WARMUP_S} s of warm-up; ${CONNECTIONS} connections`)
  console.log(canPin ? 'server pinned to core 0, autocannon to core 1 (taskset)' : 'not pinned (no taskset or a single core): expect noise')
  for (const note of server.notes) console.log(note)
  console.log(`token: ${server.tokenBytes.header} bytes in the header (cookie routes: ${server.tokenBytes.cookie}, with the csrf claim)\n`)

  const stats = {}
  for (const route of routes) {
    const problem = await check(base, route)
    stats[route.name] = { route, invalid: problem, rounds: [] }
    if (problem !== null) console.log(`${route.name}: INVALID, ${problem}`)
  }
  const valid = routes.filter(r => stats[r.name].invalid === null)
  // What the rest of the machine used meanwhile: others' CPU on these two cores skews req/s.
  const before = { t: process.hrtime.bigint(), busy: machineBusySeconds(), server: cpuSeconds(server.child.pid), driver: process.cpuUsage() }
  for (const route of valid) await measure(base, route, WARMUP_S, server.child.pid)
  for (let round = 1; round <= ROUNDS; round++) {
    for (const route of valid) stats[route.name].rounds.push(await measure(base, route, ROUND_S, server.child.pid))
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
    summary[route.name] = {
      rps: mean(rps),
      spread: (Math.max(...rps) - Math.min(...rps)) / mean(rps),
      cpuUs: mean(s.rounds.map(r => r.cpuUs)),
      p50: percentile(merged, 0.5),
      p99: percentile(merged, 0.99),
      bad,
      invalid: bad > 0 ? `${bad} non-2xx/errors/timeouts during the run` : null,
      serverCpu: mean(s.rounds.map(r => r.serverCpu)),
      driverCpu: mean(s.rounds.map(r => r.driverCpu)),
      roundsRps: rps
    }
  }
  const plain = summary.plain?.invalid === null ? summary.plain.rps : NaN
  const plainCpu = summary.plain?.invalid === null ? summary.plain.cpuUs : NaN
  const rows = routes.map(r => {
    const s = summary[r.name]
    if (s.rps === undefined || s.invalid !== null) return [r.name, `INVALID: ${s.invalid}`, '', '', '', '', '', '', '', '']
    return [r.name, fmt(s.rps), `${fmt(s.spread * 100, 1)}%`, fmt(s.p50), fmt(s.p99), fmt(s.rps / plain, 2),
      fmt(s.cpuUs, 1), fmt(plainCpu / s.cpuUs, 2), `${fmt(s.serverCpu * 100)}%`, `${fmt(s.driverCpu * 100)}%`]
  })
  console.log('\n' + table(['route', 'req/s', 'spread', 'p50 µs', 'p99 µs', 'x plain', 'cpu µs', 'cpu x plain', 'server', 'driver'], rows))
  console.log(`
req/s: mean over rounds; spread: (max - min) / mean; p50/p99: latency over all rounds; x plain: req/s ÷ plain's.
cpu µs: server CPU time per request; cpu x plain: plain's ÷ the route's, the same ratio measured in a way a busy
machine barely moves. server/driver: CPU use of each process; a server well below 100% was not saturated.
Other processes used ${fmt(others * 100)}% of a core during the runs${others > 0.15 ? ': the machine was busy, req/s ratios are skewed; trust cpu x plain' : ''}.`)
  for (const r of routes) console.log(`  ${r.name.padEnd(17)} ${r.method.padEnd(4)} ${r.what}`)

  // Micro-benchmarks, on the core the server used.
  const micro = JSON.parse(runScript([path.join(__dirname, 'micro.js'), '--json', ...(quick ? ['--quick'] : [])]))
  const memoryScript = path.join(__dirname, 'store-memory.js')
  let memory = { note: 'bench/store-memory.js not found: skipped' }
  if (existsSync(memoryScript)) {
    const out = runScript(['--expose-gc', memoryScript]).trim()
    memory = { output: out, mb: Number(/([\d.]+) MB/.exec(out)?.[1]) }
  }
  console.log('\n' + table(['micro', 'ops/s', 'result'], [
    ...micro.cases.map(c => [c.name, fmt(c.opsPerSec), `${c.bytes} bytes a pair`]),
    ['createTokenPair / two signers', '', fmt(micro.ratio, 2)]
  ]))
  console.log(memory.output ?? memory.note)

  const both = (a, b) => summary[a]?.invalid === null && summary[b]?.invalid === null
  const ratio = (a, b) => both(a, b) ? summary[a].rps / summary[b].rps : NaN
  const cpuRatio = (a, b) => both(a, b) ? summary[b].cpuUs / summary[a].cpuUs : NaN
  const targets = [
    ['requireAccess / plain', ratio('authx', 'plain'), cpuRatio('authx', 'plain'), '>= 0.68', v => v >= 0.68],
    ['verifyCache / plain', ratio('authx-cache', 'plain'), cpuRatio('authx-cache', 'plain'), '>= 0.80', v => v >= 0.80],
    ['cookie+CSRF POST / header POST', ratio('cookie', 'header-post'), cpuRatio('cookie', 'header-post'), '>= 0.90', v => v >= 0.90],
    ['Redis store / memory store', ratio('authx-redis', 'authx'), NaN, '>= 0.50', v => v >= 0.5],
    ['createTokenPair / two signers', micro.ratio, NaN, '>= 0.80', v => v >= 0.8],
    ['1M revoked jtis, heap MB', memory.mb, NaN, '< 200', v => v < 200]
  ].map(([name, value, cpu, target, pass]) => ({ name, value, cpu, target, status: Number.isFinite(value) ? (pass(value) ? 'ok' : 'MISSED') : 'not measured' }))
  console.log('\n' + table(['target', 'measured', 'by cpu', 'wanted', ''],
    targets.map(t => [t.name, fmt(t.value, t.name.includes('MB') ? 1 : 2), Number.isFinite(t.cpu) ? fmt(t.cpu, 2) : '', t.target, t.status])))

  mkdirSync(RESULTS, { recursive: true })
  const file = path.join(RESULTS, `${new Date().toISOString().replace(/[:.]/g, '-')}-${quick ? 'quick' : 'full'}.json`)
  writeFileSync(file, JSON.stringify({
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    node: process.version,
    cpu: os.cpus()[0]?.model,
    cores: os.availableParallelism(),
    pinned: canPin,
    settings: { connections: CONNECTIONS, warmupSeconds: WARMUP_S, rounds: ROUNDS, roundSeconds: ROUND_S },
    otherProcessesCpu: others,
    notes: server.notes,
    tokenBytes: server.tokenBytes,
    routes: routes.map(r => ({ name: r.name, method: r.method, what: r.what, ...summary[r.name], ratioToPlain: summary[r.name].rps / plain, cpuRatioToPlain: plainCpu / summary[r.name].cpuUs })),
    micro,
    memory,
    targets
  }, null, 2) + '\n')
  console.log(`results: ${path.relative(process.cwd(), file)}`)
}

main().catch(err => { console.error(err); process.exit(1) })
