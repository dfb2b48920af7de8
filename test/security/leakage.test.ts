/**
 * Attack class 13: errors and leakage. Every negative case of every class goes through `expectRefused`
 * (helpers.ts): refusal status, handler not run, no token bytes / planted claims / key material / stack
 * trace in the response or the logs. This file covers what the other classes do not: store and callback
 * failures, the error body's shape, successful requests' logs, and the query-string log channel.
 * Sources: README "Errors" (fixed messages; the store's cause is logged, never sent) and "Security" ("no
 * client input produces a 5xx; error messages are fixed strings"); OWASP Error Handling and Logging cheat sheets; CWE-209 (information exposure through an error
 * message), CWE-532 (sensitive information in log files), CWE-755; RFC 6750 §5.3 (bearer tokens in logs),
 * @fastify/jwt 10.1.0 (#410: an assertion error gave a 500 with a stack trace).
 */
import Fastify from 'fastify'
import t from 'tap'
import authx, { errors } from '../../lib/index'
import { keyPair } from '../helpers/app'
import { CANARY, DATA_CANARY, LOCATIONS, SECRET, carry, claims, expectAccepted, expectRefused, found, harness, hs } from './helpers'
import { never, storeWith } from '../helpers/stores'

const DRIVER = 'ERR_DRIVER_CANARY redis://:hunter2-canary@10.9.8.7:6379 WRONGPASS'
const CAUSE = [DRIVER, 'hunter2-canary', 'ERR_DRIVER_CANARY']

t.test('a failing or hanging store: 503, fail closed, no driver text or stack in the answer (README "Errors", CWE-209)', async t => {
  for (const store of [
    storeWith('Throws', ['status'], () => { throw new Error(DRIVER) }),
    storeWith('Rejects', ['status'], async () => { throw new Error(DRIVER) }),
    storeWith('Hangs', ['status'], never),
    storeWith('RejectsString', ['status'], async () => { throw DRIVER })
  ]) {
    const name = store.constructor.name
    const h = await harness({ secret: SECRET, store, storeTimeout: 50 })
    const token = h.app.createAccessToken(CANARY, { data: { note: DATA_CANARY } })
    for (const location of LOCATIONS) {
      await expectRefused(t, h, carry(location, token), [token, ...CAUSE], {
        status: 503, code: 'FST_AUTHX_STORE_UNAVAILABLE', label: `${name} via ${location}`, storeCause: CAUSE
      })
    }
    await h.close()
  }
})

t.test('the store failure is logged once, at error level, with the cause and nothing about the token', async t => {
  const h = await harness({ secret: SECRET, store: storeWith('Rejects', ['status'], async () => { throw new Error(DRIVER) }), storeTimeout: 50 })
  const token = h.app.createAccessToken(CANARY, { data: { note: DATA_CANARY } })
  const mark = h.logs.length
  const res = await h.app.inject(carry('headers', token))
  t.equal(res.statusCode, 503)
  t.same(found(res.body + JSON.stringify(res.headers), [DRIVER, 'hunter2-canary', token]), [], 'nothing in the answer')
  const lines = h.logs.slice(mark).map(l => JSON.parse(l))
  const withCause = lines.filter(l => JSON.stringify(l).includes('ERR_DRIVER_CANARY'))
  // Operators need the cause; the design logs it on one error line of its own (lib/store-calls.ts), never
  // in the response. That line must not carry the token, its claims or the key.
  t.equal(withCause.length, 1, 'the cause is logged on exactly one line')
  t.equal(withCause[0]?.level, 50, 'at error level')
  t.match(withCause[0]?.msg, /store unavailable/)
  const segments = token.split('.').filter(s => s.length >= 12)
  t.same(found(JSON.stringify(withCause[0]).replace(/"stack":"[^"]*"/, ''), [token, ...segments, CANARY, DATA_CANARY, SECRET]), [], 'the error line names no token, claim or key')
  await h.close()
})

t.test('isRevoked that throws or hangs: 503, its text never sent', async t => {
  for (const [name, isRevoked] of [
    ['throws', () => { throw new Error(DRIVER) }],
    ['rejects', async () => { throw new Error(DRIVER) }],
    ['hangs', () => new Promise<boolean>(() => {})]
  ] as Array<[string, () => any]>) {
    const h = await harness({ secret: SECRET, isRevoked, storeTimeout: 50 })
    const token = h.app.createAccessToken(CANARY)
    for (const location of LOCATIONS) {
      await expectRefused(t, h, carry(location, token), [token, ...CAUSE], { status: 503, code: 'FST_AUTHX_STORE_UNAVAILABLE', label: `isRevoked ${name} via ${location}`, storeCause: CAUSE })
    }
    await h.close()
  }
})

t.test('a store answering garbage fails closed with 503, never 2xx or a 500 (README "Revocation, rotation and sessions", Fail closed; lib/store-calls.ts wellFormed())', async t => {
  // A custom TokenStore (or a Redis client returning an unexpected reply) is a store failure, like a
  // rejection: the request must be refused with FST_AUTHX_STORE_UNAVAILABLE, not accepted as all-clear
  // and not answered 500 with an internal TypeError message.
  for (const [name, status] of [['null', null], ['undefined', undefined], ['a string', 'ok'], ['a number', 42], ['an array', []], ['an empty object', {}]] as Array<[string, unknown]>) {
    const h = await harness({ secret: SECRET, store: storeWith('Garbage', ['status'], async () => status) })
    const token = h.app.createAccessToken(CANARY)
    for (const location of LOCATIONS) {
      await expectRefused(t, h, carry(location, token), [token], { status: 503, code: 'FST_AUTHX_STORE_UNAVAILABLE', label: `status() resolving ${name} via ${location}` })
    }
    await h.close()
  }
  // redeem() answering garbage must not be taken as "first use, all clear" by rotateRefreshToken
  for (const [name, first] of [['undefined', undefined], ['null', null], ['a string', '0'], ['NaN', NaN], ['a status with NaN', { revoked: false, familyRevoked: false, revokedBefore: 0, consumedAt: NaN }], ['an empty object', {}]] as Array<[string, unknown]>) {
    const h = await harness({ secret: SECRET, store: storeWith('Garbage', ['redeem'], async () => first), rotation: { reuseGraceSeconds: 0 } }, {
      setup (app, hit) { app.post('/rotate', { preValidation: app.requireRefresh }, async request => { hit(); return await app.authx.rotateRefreshToken(request.tokenPayload) }) }
    })
    const refresh = h.app.createTokenPair('u').refresh_token
    const res = await h.app.inject({ method: 'POST', url: '/rotate', headers: { authorization: `Bearer ${refresh}` } })
    t.equal(res.statusCode, 503, `redeem() resolving ${name}: 503 (${res.statusCode})`)
    t.notOk(res.body.includes('access_token'), `redeem() resolving ${name}: no new pair issued`)
    await h.close()
  }
})

t.test('error bodies: exactly { statusCode, code, error, message }, fixed messages (README "Errors")', async t => {
  const h = await harness()
  const fixed = new Set(Object.values(errors).map(E => new (E as any)().message))
  const cases = [
    carry('headers', 'garbage'),
    carry('headers', hs(claims({ exp: 1 }))),
    carry('headers', hs(claims({ type: 'refresh' }))),
    carry('headers', hs(claims({ fresh: false })), 'fresh'),
    carry('headers', hs(claims()), 'scoped'),
    { method: 'GET' as const, url: '/access' },
    { method: 'GET' as const, url: '/access', headers: { authorization: 'Bearer a b' } },
    { method: 'POST' as const, url: '/access', headers: { cookie: `access_token_cookie=${hs(claims())}` } }
  ]
  for (const request of cases) {
    const res = await expectRefused(t, h, request, [])
    const b = res.json()
    t.same(Object.keys(b).sort(), ['code', 'error', 'message', 'statusCode'], `${b.code}: only the four members`)
    t.ok(fixed.has(b.message), `${b.code}: a fixed message`)
    t.equal(b.statusCode, res.statusCode)
    t.match(res.headers['content-type'], /^application\/json/)
  }
  await h.close()
})

t.test('successful requests log nothing of the token either, at trace level (CWE-532)', async t => {
  const h = await harness()
  const token = h.app.createAccessToken(CANARY, { data: { note: DATA_CANARY }, scopes: ['admin'] })
  const mark = h.logs.length
  for (const location of LOCATIONS) {
    await expectAccepted(t, h, carry(location, token))
    await expectAccepted(t, h, carry(location, token, 'scoped'))
  }
  const segments = token.split('.').filter(s => s.length >= 12)
  t.same(found(h.logs.slice(mark).join(''), [token, ...segments, SECRET]), [], 'no token bytes or key in the logs')
  t.ok(h.logs.length > mark, 'the logger did log these requests')
  await h.close()
})

t.test('query tokens and the request log: the serializer SECURITY.md recommends keeps them out (RFC 6750 §2.3, §5.3)', async t => {
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (l: string) => { logs.push(l) } } } })
  await app.register(authx, { secret: SECRET, tokenLocation: ['query'] })
  app.get('/q', { onRequest: app.requireAccess }, async () => ({}))
  await app.ready()
  const token = app.createAccessToken('u')
  await app.inject({ url: `/q?token=${token}` })
  const defaultLogs = logs.join('').includes(token.split('.')[2])
  t.comment(`Fastify's default req serializer ${defaultLogs ? 'logs' : 'does not log'} the query string (hence SECURITY.md's advice)`)
  await app.close()
  const h = await harness({ secret: SECRET, tokenLocation: ['query'] })
  const t2 = h.app.createAccessToken('u')
  const mark = h.logs.length
  await expectAccepted(t, h, carry('query', t2))
  t.same(found(h.logs.slice(mark).join(''), [t2, t2.split('.')[2]]), [], 'with the recommended serializer, no token in the logs')
  await h.close()
})

t.test('key material never appears in any answer or log, HMAC or asymmetric', async t => {
  const { privateKey } = keyPair('RS256')
  for (const options of [{ secret: SECRET }, { algorithm: 'RS256' as const, privateKey }]) {
    const h = await harness(options, { setup (app) { app.get('/jwks', async () => app.authx.jwks()) } })
    t.ok(h.secrets.length > 0, 'the harness knows what the key material is')
    const token = h.app.createAccessToken('u')
    for (const request of [carry('headers', token), carry('headers', token.slice(0, -3)), carry('cookies', 'x'), { method: 'GET' as const, url: '/jwks' }]) {
      const res = await h.app.inject(request)
      t.same(found(res.body + JSON.stringify(res.headers), h.secrets), [], `${request.url}: no private key material`)
    }
    t.same(found(h.logs.join(''), h.secrets), [], 'no key material in any log line')
    await h.close()
  }
})

t.test('register-time errors name the option, never the secret or key (CWE-209)', async t => {
  const pem = keyPair('RS256').publicKey.export({ type: 'spki', format: 'pem' }) as string
  const body = pem.split('\n')[1]
  for (const options of [{ secret: pem }, { secret: JSON.stringify(keyPair('RS256').publicKey.export({ format: 'jwk' })) }, { algorithm: 'RS256', privateKey: 'not a key hunter2-canary' }, { secret: SECRET, decodeAlgorithms: ['HS256', 'none'] }]) {
    const app = Fastify()
    let err: any
    try { await app.register(authx, options as any); await app.ready() } catch (e) { err = e }
    await app.close()
    t.equal(err?.code, 'FST_AUTHX_BAD_OPTIONS')
    t.notOk(String(err?.message).includes(body), 'no PEM body in the message')
    t.notOk(String(err?.message).includes('hunter2-canary'), 'no echo of the given value')
    t.notOk(String(err?.message).includes('"n":'), 'no JWK in the message')
  }
})
