'use strict'
// In-process micro-benchmarks, each group in rotating rounds (A B C A B C …) so that drift falls on all
// cases alike; the figure of a case is its median over the rounds.
//   verify: app.requireAccess called as Fastify calls it (request, reply, done) on a request-like object,
//           beside fast-jwt's bare verifier (createVerifier, HS256) and a node:crypto floor, on one token.
//   sign:   app.createTokenPair(sub) against two raw fast-jwt signer calls making the same claims.
// After `npm run build`: node bench/micro.js [--quick] [--json]
const assert = require('node:assert/strict')
const { randomUUID } = require('node:crypto')
const Fastify = require('fastify')
const { createSigner, createVerifier } = require('fast-jwt')
const authx = require('fastify-authx')
const { SECRET, SUBJECT, mint, floorVerifier, tampered, requestLike, replyLike } = require('./fixtures')

const quick = process.argv.includes('--quick')
const json = process.argv.includes('--json')
const ROUNDS = quick ? 5 : 9
const ROUND_MS = quick ? 200 : 500
const WARMUP_MS = quick ? 300 : 1000
const BATCH = 500

let sink = 0

/** ops/s of `batch` (BATCH operations a call) over about `ms`; the clock is read once a batch. */
async function opsPerSec (batch, ms) {
  const budget = BigInt(ms) * 1_000_000n
  const start = process.hrtime.bigint()
  let ops = 0
  let elapsed = 0n
  do {
    const pending = batch()
    if (pending !== undefined) await pending
    ops += BATCH
    elapsed = process.hrtime.bigint() - start
  } while (elapsed < budget)
  return ops / (Number(elapsed) / 1e9)
}

const median = a => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2 }

/** Warm-up, then ROUNDS rounds of every case in turn. */
async function rotate (cases) {
  const names = Object.keys(cases)
  for (const name of names) await opsPerSec(cases[name], WARMUP_MS) // JIT, pools, caches
  const samples = Object.fromEntries(names.map(n => [n, []]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of names) samples[name].push(await opsPerSec(cases[name], ROUND_MS))
  }
  return names.map(name => ({ name, opsPerSec: median(samples[name]), samples: samples[name] }))
}

/**
 * The guard as a batch: BATCH calls of hook(request, reply, done). With the MemoryStore the guard completes
 * synchronously (done is called before it returns); if it ever did not, the batch waits for every done.
 */
function hookBatch (hook, request) {
  let completed = 0
  let failure
  let wake
  const done = err => {
    if (err !== undefined && err !== null) failure = err
    completed++
    if (wake !== undefined && completed === BATCH) wake()
  }
  const check = () => {
    if (failure !== undefined) throw failure
    sink += request.tokenPayload.jti.length
  }
  return function batch () {
    completed = 0
    wake = undefined
    request.tokenPayload = null // so that check() sees what this batch's calls left
    for (let i = 0; i < BATCH; i++) hook(request, replyLike, done)
    if (completed === BATCH) return check()
    return new Promise(resolve => { wake = resolve }).then(check)
  }
}

/** Calls the guard once, as Fastify does, and resolves with what it passed to done. */
function callOnce (hook, request) {
  return new Promise(resolve => { hook(request, replyLike, err => { resolve({ error: err }) }) })
}

async function verifyGroup () {
  const app = Fastify({ logger: false })
  await app.register(authx, { secret: SECRET })
  await app.ready()
  const hook = app.requireAccess
  const token = mint(app)
  const fastJwt = createVerifier({ key: SECRET, algorithms: ['HS256'] })
  const floor = floorVerifier(SECRET)

  // Each path really runs, and refuses what it must: checked before anything is timed.
  const request = requestLike(token)
  assert.equal((await callOnce(hook, request)).error, undefined, 'requireAccess called done() with an error')
  assert.equal(request.tokenPayload?.sub, SUBJECT, 'requireAccess left no payload on the request')
  assert.equal(request.tokenLocation, 'headers')
  assert.equal(fastJwt(token).sub, SUBJECT)
  assert.equal(floor(token).sub, SUBJECT)
  for (const [what, bad] of Object.entries(tampered(token))) {
    const r = requestLike(bad)
    const { error } = await callOnce(hook, r)
    assert.equal(error?.statusCode, 401, `requireAccess accepted a token with a changed ${what}`)
    assert.equal(r.tokenPayload, null)
    assert.throws(() => fastJwt(bad), `fast-jwt accepted a token with a changed ${what}`)
    assert.equal(floor(bad), null, `the floor accepted a token with a changed ${what}`)
  }
  // With the MemoryStore, done() comes before the hook returns: no promise, no tick (reported, not required).
  let sync = false
  hook(request, replyLike, () => { sync = true })

  const cases = {
    'requireAccess hook': hookBatch(hook, request),
    'fast-jwt verify': () => { for (let i = 0; i < BATCH; i++) sink += fastJwt(token).jti.length },
    'node:crypto floor': () => { for (let i = 0; i < BATCH; i++) sink += floor(token).jti.length }
  }
  const results = await rotate(cases)
  await app.close()
  const [hookCase, fastJwtCase, floorCase] = results
  return {
    tokenBytes: token.length,
    synchronous: sync,
    cases: results,
    hookToFastJwt: hookCase.opsPerSec / fastJwtCase.opsPerSec,
    floorToFastJwt: floorCase.opsPerSec / fastJwtCase.opsPerSec
  }
}

async function signGroup () {
  const app = Fastify({ logger: false })
  await app.register(authx, { secret: SECRET })
  await app.ready()
  const signer = createSigner({ key: SECRET, algorithm: 'HS256' })
  const pair = () => {
    const p = app.createTokenPair(SUBJECT)
    return p.access_token + p.refresh_token
  }
  const signers = () => {
    const iat = Math.floor(Date.now() / 1000)
    const fam = randomUUID()
    return signer({ sub: SUBJECT, type: 'access', jti: randomUUID(), iat, nbf: iat, exp: iat + 900, fresh: false, fam }) +
      signer({ sub: SUBJECT, type: 'refresh', jti: randomUUID(), iat, nbf: iat, exp: iat + 1728000, fam })
  }
  const results = await rotate({
    createTokenPair: () => { for (let i = 0; i < BATCH; i++) sink += pair().length },
    'two fast-jwt signers': () => { for (let i = 0; i < BATCH; i++) sink += signers().length }
  })
  results[0].bytes = pair().length
  results[1].bytes = signers().length
  await app.close()
  return { cases: results, ratio: results[0].opsPerSec / results[1].opsPerSec }
}

async function main () {
  const verify = await verifyGroup()
  const sign = await signGroup()
  const result = { rounds: ROUNDS, msPerRound: ROUND_MS, statistic: 'median', verify, sign, sink }
  if (json) {
    process.stdout.write(JSON.stringify(result) + '\n')
    return
  }
  const fmt = n => Math.round(n).toLocaleString('en-US').padStart(11)
  console.log(`verify (${verify.tokenBytes}-byte HS256 token; median of ${ROUNDS} rounds x ${ROUND_MS} ms)`)
  for (const c of verify.cases) console.log(`  ${c.name.padEnd(22)} ${fmt(c.opsPerSec)} ops/s`)
  console.log(`  hook / fast-jwt: ${verify.hookToFastJwt.toFixed(2)}   floor / fast-jwt: ${verify.floorToFastJwt.toFixed(2)}`)
  console.log('sign')
  for (const c of sign.cases) console.log(`  ${c.name.padEnd(22)} ${fmt(c.opsPerSec)} ops/s  (${c.bytes} bytes a pair)`)
  console.log(`  createTokenPair / two signers: ${sign.ratio.toFixed(2)}`)
}

main().catch(err => { console.error(err); process.exit(1) })
