/**
 * The long fuzz run: `npm run fuzz` (see SECURITY.md). The properties of fuzz-properties.ts with
 * FUZZ_RUNS runs each (default 20 000) and a random seed unless FUZZ_SEED is given. The seed is printed
 * first, on stderr too, so a failing run can be replayed with `FUZZ_SEED=<seed> npm run fuzz`
 * (or, faster, `FUZZ_SEED=<seed> FUZZ_RUNS=<n> npx tap test/security/fuzz.test.ts`).
 * Not matched by the tap include glob (*.test.ts), so never part of `npm test`; and since
 * `npx tap test/security/` runs every file of the directory, it only starts when asked for:
 * `npm run fuzz` sets npm_lifecycle_event=fuzz, FUZZ_LONG=1 does the same by hand.
 */
import t from 'tap'
import { fuzz } from './fuzz-properties'

const asked = process.env.npm_lifecycle_event === 'fuzz' || process.env.FUZZ_LONG === '1'

if (!asked) {
  t.plan(0, 'the long fuzz run starts with `npm run fuzz` (or FUZZ_LONG=1)')
} else {
  const envSeed = process.env.FUZZ_SEED
  const seed = envSeed === undefined || envSeed === '' || envSeed === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(envSeed)
  const runs = Number(process.env.FUZZ_RUNS ?? 20000)
  process.stderr.write(`fastify-authx fuzz: seed ${seed}, ${runs} runs per property\n`)
  t.test(`long fuzz: seed ${seed}, ${runs} runs per property`, { timeout: 0 }, async t => {
    if (!Number.isInteger(seed) || !Number.isInteger(runs) || runs <= 0) throw new Error('FUZZ_SEED and FUZZ_RUNS must be integers')
    const started = Date.now()
    await fuzz(t, { runs, seed })
    const line = `fastify-authx fuzz: seed ${seed}, ${runs} runs per property, ${Math.round((Date.now() - started) / 1000)} s`
    t.comment(line)
    process.stderr.write(line + '\n')
  })
}
