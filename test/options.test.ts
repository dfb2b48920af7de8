import t, { type Test } from 'tap'
import Fastify from 'fastify'
import authx, { MemoryStore } from '../lib/index'
import { parseDuration } from '../lib/options'
import { SECRET, keyPair, registerError } from './helpers/app'

async function refused (t: Test, options: unknown, path: string, what?: RegExp) {
  const err = await registerError(options)
  t.equal(err?.code, 'FST_AUTHX_BAD_OPTIONS', `${JSON.stringify(options, (_k, v) => typeof v === 'bigint' ? String(v) : v)?.slice(0, 80)} is refused`)
  t.match(err?.message, new RegExp(`bad option ${path.replace(/\./g, '\\.')}\\b`), `the message names ${path}`)
  if (what !== undefined) t.match(err?.message, what)
}

t.test('a minimal HMAC configuration registers', async t => {
  t.equal(await registerError({ secret: SECRET }), undefined)
})

t.test('unknown options and wrong shapes name the option path', async t => {
  await refused(t, { secret: SECRET, secert: 'typo' }, 'secert', /unexpected property/)
  await refused(t, { secret: SECRET, tokenLocation: ['headers', 'carrier-pigeon'] }, 'tokenLocation')
  await refused(t, { secret: SECRET, cookies: { sameSite: 'sometimes' } }, 'cookies.sameSite')
  await refused(t, { secret: SECRET, leeway: -1 }, 'leeway')
  await refused(t, { secret: SECRET, maxTokenLength: 10 }, 'maxTokenLength')
  await refused(t, { secret: SECRET, storeTimeout: 0 }, 'storeTimeout')
  await refused(t, { secret: SECRET, csrf: { methods: 'POST' } }, 'csrf.methods')
  await refused(t, { secret: SECRET, header: { type: 'Bearer token' } }, 'header.type')
})

t.test('lifetimes that do not parse are refused, never dropped', async t => {
  for (const bad of [NaN, -5, 0, Infinity, '15 parsecs', '', 'abc', '-1m', true]) {
    await refused(t, { secret: SECRET, accessTokenExpires: bad }, 'accessTokenExpires')
  }
  await refused(t, { secret: SECRET, refreshTokenExpires: '1 fortnight' }, 'refreshTokenExpires')
  await refused(t, { secret: SECRET, cookies: { maxAge: -1 } }, 'cookies.maxAge')
  await refused(t, { secret: SECRET, implicitRefresh: { deltaTime: 'soon' } }, 'implicitRefresh.deltaTime')
  await refused(t, { secret: SECRET, rotation: { maxSessionAge: 'forever' } }, 'rotation.maxSessionAge')
})

t.test('durations: seconds, unit strings, bare numeric strings are seconds', async t => {
  t.equal(parseDuration(900, 'x'), 900)
  t.equal(parseDuration('15m', 'x'), 900)
  t.equal(parseDuration('20d', 'x'), 20 * 86400)
  t.equal(parseDuration('2 hours', 'x'), 7200)
  t.equal(parseDuration('1w', 'x'), 604800)
  t.equal(parseDuration('120', 'x'), 120, 'not milliseconds, unlike fast-jwt')
  t.equal(parseDuration('1500ms', 'x'), 2, 'rounded up to whole seconds')
  t.equal(parseDuration(1.2, 'x'), 2)
})

t.test('HMAC secret rules', async t => {
  await refused(t, {}, 'secret')
  await refused(t, { secret: '' }, 'secret')
  await refused(t, { secret: Buffer.alloc(0) }, 'secret')
  await refused(t, { secret: 42 }, 'secret')
  const pem = keyPair('RS256').publicKey.export({ type: 'spki', format: 'pem' }) as string
  await refused(t, { secret: pem }, 'secret', /PEM/)
  await refused(t, { secret: 'junk' + pem }, 'secret', /PEM/)
  const jwk = JSON.stringify(keyPair('RS256').publicKey.export({ format: 'jwk' }))
  await refused(t, { secret: jwk }, 'secret', /JWK/)
  await refused(t, { secret: JSON.stringify({ keys: [JSON.parse(jwk)] }) }, 'secret', /JWK/)
  await refused(t, { secret: SECRET, previousSecret: '' }, 'previousSecret')
  await refused(t, { secret: SECRET, privateKey: keyPair('RS256').privateKey }, 'privateKey')
})

t.test('a short HMAC secret starts with a warning', async t => {
  const lines: string[] = []
  const stream = { write: (line: string) => { lines.push(line) } }
  const app = Fastify({ logger: { level: 'warn', stream } })
  await app.register(authx, { secret: 'short' })
  await app.ready()
  await app.close()
  t.ok(lines.some(l => /shorter than 32 bytes/.test(l)), 'warned')
  t.notOk(lines.some(l => l.includes('"short"') || /\bshort\b.*secret.*short/.test(l)), 'the secret itself is not logged')
})

t.test('algorithms: none, unknown and mixed allow-lists are refused', async t => {
  await refused(t, { secret: SECRET, algorithm: 'none' }, 'algorithm')
  for (const none of ['none', 'None', 'NONE', 'nOnE']) {
    await refused(t, { secret: SECRET, decodeAlgorithms: ['HS256', none] }, 'decodeAlgorithms', /never accepted/)
  }
  await refused(t, { secret: SECRET, decodeAlgorithms: ['HS256', 'RS256'] }, 'decodeAlgorithms', /mixed/)
  await refused(t, { secret: SECRET, decodeAlgorithms: ['HS512'] }, 'decodeAlgorithms', /signing algorithm/)
  await refused(t, { secret: SECRET, decodeAlgorithms: [] }, 'decodeAlgorithms')
})

t.test('asymmetric keys', async t => {
  const rsa = keyPair('RS256')
  await refused(t, { algorithm: 'RS256' }, 'privateKey')
  await refused(t, { algorithm: 'RS256', secret: SECRET }, 'secret')
  await refused(t, { algorithm: 'RS256', privateKey: 'not a key' }, 'privateKey')
  await refused(t, { algorithm: 'ES256', privateKey: rsa.privateKey }, 'privateKey', /ES256/)
  await refused(t, { algorithm: 'ES256', privateKey: keyPair('ES384').privateKey }, 'privateKey', /ES256/)
  await refused(t, { algorithm: 'RS256', privateKey: rsa.privateKey, publicKey: keyPair('PS256').publicKey }, 'publicKey')
  const { generateKeyPairSync } = await import('node:crypto')
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 })
  await refused(t, { algorithm: 'RS256', privateKey: weak.privateKey }, 'privateKey', /2048/)
  await refused(t, { algorithm: 'RS256', publicKey: weak.publicKey }, 'publicKey', /2048/)
  await refused(t, { algorithm: 'RS256', privateKey: rsa.privateKey, previousPublicKeys: [keyPair('ES256').publicKey] }, 'previousPublicKeys.0')
  await refused(t, { secret: SECRET, jwksRoute: '/.well-known/jwks.json' }, 'jwksRoute', /asymmetric/)
  t.equal(await registerError({ algorithm: 'RS256', privateKey: rsa.privateKey }), undefined, 'a KeyObject works')
  t.equal(await registerError({ algorithm: 'RS256', privateKey: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) }), undefined, 'a PEM string works')
  t.equal(await registerError({ algorithm: 'RS256', privateKey: rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as Buffer }), undefined, 'a PKCS#1 PEM Buffer works')
  t.equal(await registerError({ algorithm: 'RS256', publicKey: rsa.publicKey }), undefined, 'verify-only works')
})

t.test('cookies with SameSite=None must be Secure', async t => {
  await refused(t, { secret: SECRET, cookies: { sameSite: 'none', secure: false } }, 'cookies.sameSite', /secure/)
  t.equal(await registerError({ secret: SECRET, cookies: { sameSite: 'none', secure: true } }), undefined)
})

t.test('callbacks and stores are checked', async t => {
  await refused(t, { secret: SECRET, isRevoked: true }, 'isRevoked')
  await refused(t, { secret: SECRET, getSubject: 'user' }, 'getSubject')
  await refused(t, { secret: SECRET, store: {} }, 'store')
  await refused(t, { secret: SECRET, now: 1733227200000 }, 'now')
  // a store written for 0.1 (consume, no redeem/recordFamily) is refused at startup, not at the first rotation
  const { redeem, recordFamily, ...old } = Object.getOwnPropertyDescriptors(MemoryStore.prototype)
  void redeem; void recordFamily
  const legacy = Object.create(Object.prototype, old)
  await refused(t, { secret: SECRET, store: legacy }, 'store')
})

t.test('CSRF off with cookie locations warns at startup', async t => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (l: string) => { lines.push(l) } } } })
  await app.register(authx, { secret: SECRET, tokenLocation: ['cookies'], csrf: { protect: false } })
  await app.ready()
  await app.close()
  t.ok(lines.some(l => /CSRF protection is off/.test(l)))
})

t.test('guard options are validated when the guard is made', async t => {
  const app = Fastify()
  await app.register(authx, { secret: SECRET })
  t.throws(() => app.authx.guard({ type: 'admin' } as any), { code: 'FST_AUTHX_BAD_OPTIONS', message: /type/ })
  t.throws(() => app.authx.guard({ scopes: ['has space'] }), { code: 'FST_AUTHX_BAD_OPTIONS', message: /scopes\.0/ })
  t.throws(() => app.authx.guard({ locations: ['query', 'query'] } as any), { code: 'FST_AUTHX_BAD_OPTIONS' })
  t.throws(() => app.authx.guard({ nope: 1 } as any), { code: 'FST_AUTHX_BAD_OPTIONS' })
  await app.close()
})
