import Fastify from 'fastify'
import t from 'tap'
import authx, { warnings } from '../lib/index'

// Register-time warnings reach people: `Fastify()` has logging off, so each also goes through
// process.emitWarning with a code (once per code per process, as Fastify's own warnings do).

function collect (): { seen: Array<{ name: string, code?: string, message: string }>, stop: () => void } {
  const seen: Array<{ name: string, code?: string, message: string }> = []
  const listener = (w: Error & { code?: string }): void => { seen.push({ name: w.name, code: w.code, message: w.message }) }
  process.on('warning', listener)
  return { seen, stop: () => { process.off('warning', listener) } }
}
// 'warning' events are emitted on the next tick
const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

t.test('a short secret: a coded process warning, with logging off', async t => {
  const { seen, stop } = collect()
  t.teardown(stop)
  const app = Fastify()
  await app.register(authx, { secret: 'short' })
  await tick()
  const found = seen.filter(w => w.code === 'FST_AUTHX_SHORT_SECRET')
  t.equal(found.length, 1)
  t.equal(found[0].name, 'FastifyWarning')
  t.match(found[0].message, /shorter than 32 bytes/)
  t.notMatch(found[0].message, /short['"]?$/, 'never the secret itself')
  const again = Fastify()
  await again.register(authx, { secret: 'short' })
  await tick()
  t.equal(seen.filter(w => w.code === 'FST_AUTHX_SHORT_SECRET').length, 1, 'once per process')
  await app.close(); await again.close()
})

t.test('cookies with CSRF off: a coded process warning, and the log line', async t => {
  const { seen, stop } = collect()
  t.teardown(stop)
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (l: string) => { lines.push(l) } } } })
  await app.register(authx, { secret: 'x'.repeat(32), tokenLocation: ['cookies'], csrf: { protect: false } })
  await tick()
  const found = seen.filter(w => w.code === 'FST_AUTHX_CSRF_OFF')
  t.equal(found.length, 1)
  t.match(found[0].message, /CSRF protection is off/)
  t.ok(lines.some(l => /CSRF protection is off/.test(l)), 'still logged')
  await app.close()
})

t.test('a plain-http jwksUrl off loopback: a coded process warning', async t => {
  const { seen, stop } = collect()
  t.teardown(stop)
  const app = Fastify()
  await app.register(authx, { jwksUrl: 'http://issuer.invalid/jwks.json', decodeAlgorithms: ['ES256'], jwks: { timeout: 50 } })
  await app.ready()
  await tick()
  const found = seen.filter(w => w.code === 'FST_AUTHX_INSECURE_JWKS_URL')
  t.equal(found.length, 1)
  t.equal(found[0].name, 'FastifyWarning')
  t.match(found[0].message, /plain http/)
  t.notMatch(found[0].message, /issuer\.invalid/, 'the URL stays in the log line')
  await app.close()
})

t.test('a sound configuration warns about nothing', async t => {
  const { seen, stop } = collect()
  t.teardown(stop)
  const app = Fastify()
  await app.register(authx, { secret: 'x'.repeat(32), tokenLocation: ['cookies', 'headers'] })
  await tick()
  t.same(seen.filter(w => w.code?.startsWith('FST_AUTHX_')), [])
  await app.close()
})

t.test('the codes are exported and documented', async t => {
  const { readFileSync } = await import('node:fs')
  const readme = readFileSync(require('node:path').join(__dirname, '..', 'README.md'), 'utf8')
  t.same(Object.keys(warnings).sort(), ['FST_AUTHX_CSRF_OFF', 'FST_AUTHX_ENV_IGNORED', 'FST_AUTHX_INSECURE_JWKS_URL', 'FST_AUTHX_SHORT_SECRET'])
  for (const code of Object.keys(warnings)) t.match(readme, code)
})
