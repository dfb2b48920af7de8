/**
 * The bounded fuzz run inside `npm test`: every property of fuzz-properties.ts, a fixed seed (printed),
 * FUZZ_RUNS runs per property (default 400). `FUZZ_SEED=<n>` reproduces a run; `FUZZ_SEED=random` draws one.
 * The long run is test/security/fuzz-long.ts (`npm run fuzz`).
 */
import t from 'tap'
import { fuzz } from './fuzz-properties'

const DEFAULT_SEED = 20260427
const envSeed = process.env.FUZZ_SEED
const seed = envSeed === undefined || envSeed === '' ? DEFAULT_SEED : envSeed === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(envSeed)
const runs = Number(process.env.FUZZ_RUNS ?? 400)

t.test(`fuzz: seed ${seed}, ${runs} runs per property`, async t => {
  if (!Number.isInteger(seed) || !Number.isInteger(runs) || runs <= 0) throw new Error('FUZZ_SEED and FUZZ_RUNS must be integers')
  const started = Date.now()
  await fuzz(t, { runs, seed })
  t.comment(`fuzz: seed ${seed}, ${runs} runs per property, ${Date.now() - started} ms`)
})
