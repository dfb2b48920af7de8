'use strict'
// Token creation: app.createTokenPair(sub) against two raw fast-jwt signer calls making the same
// claims (sub, type, jti, iat, nbf, exp, fresh, fam). After `npm run build`: node bench/micro.js [--quick] [--json]
const { randomUUID } = require('node:crypto')
const Fastify = require('fastify')
const { createSigner } = require('fast-jwt')
const authx = require('fastify-authx')

const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef'
const quick = process.argv.includes('--quick')
const json = process.argv.includes('--json')

let sink = 0

/** ops/s of fn over about `ms` milliseconds, in batches so that the clock is read rarely. */
function opsPerSec (fn, ms) {
  const budget = BigInt(ms) * 1_000_000n
  const start = process.hrtime.bigint()
  let ops = 0
  let elapsed = 0n
  do {
    for (let i = 0; i < 500; i++) sink += fn('user-4821').length
    ops += 500
    elapsed = process.hrtime.bigint() - start
  } while (elapsed < budget)
  return ops / (Number(elapsed) / 1e9)
}

async function main () {
  const app = Fastify({ logger: false })
  await app.register(authx, { secret: SECRET })
  await app.ready()

  const signer = createSigner({ key: SECRET, algorithm: 'HS256' })
  const cases = {
    createTokenPair: sub => {
      const pair = app.createTokenPair(sub)
      return pair.access_token + pair.refresh_token
    },
    'two fast-jwt signers': sub => {
      const iat = Math.floor(Date.now() / 1000)
      const fam = randomUUID()
      return signer({ sub, type: 'access', jti: randomUUID(), iat, nbf: iat, exp: iat + 900, fresh: false, fam }) +
        signer({ sub, type: 'refresh', jti: randomUUID(), iat, nbf: iat, exp: iat + 1728000, fam })
    }
  }

  const names = Object.keys(cases)
  const rounds = quick ? 3 : 7
  const ms = quick ? 250 : 600
  for (const name of names) opsPerSec(cases[name], quick ? 300 : 1000) // warm-up: JIT and the id pool
  const samples = Object.fromEntries(names.map(n => [n, []]))
  for (let r = 0; r < rounds; r++) {
    // Alternate, so that drift (a neighbour, thermal) falls on both alike.
    for (const name of names) samples[name].push(opsPerSec(cases[name], ms))
  }
  const mean = a => a.reduce((x, y) => x + y, 0) / a.length
  const result = {
    rounds,
    msPerRound: ms,
    cases: names.map(name => ({ name, opsPerSec: mean(samples[name]), samples: samples[name], bytes: cases[name]('user-4821').length })),
    sink
  }
  result.ratio = result.cases[0].opsPerSec / result.cases[1].opsPerSec

  if (json) {
    process.stdout.write(JSON.stringify(result) + '\n')
  } else {
    for (const c of result.cases) console.log(`${c.name.padEnd(22)} ${Math.round(c.opsPerSec).toLocaleString('en-US').padStart(9)} ops/s  (${c.bytes} bytes a pair)`)
    console.log(`ratio createTokenPair / two signers: ${result.ratio.toFixed(2)}`)
  }
  await app.close()
}

main().catch(err => { console.error(err); process.exit(1) })
