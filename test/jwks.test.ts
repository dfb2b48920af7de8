import { createPublicKey, generateKeyPairSync, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import { createServer as createNetServer, type Socket } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import authx, { type AuthxOptions } from '../lib/index'
import { bearer, keyPair, testClock, type TestClock } from './helpers/app'

// Two services on loopback: an issuer that publishes its keys (jwksRoute) and a verifier that takes
// them from its URL (jwksUrl). Time is the verifier's `now` clock; a client-side fetch spy counts
// the fetches as they start (the JWKS fetch is started synchronously by the request that needs it).

const realFetch = globalThis.fetch
const fetched: string[] = []
globalThis.fetch = (async (input: any, init?: any) => {
  fetched.push(String(input))
  return await realFetch(input, init)
}) as typeof fetch
const fetchesOf = (url: string) => fetched.filter(u => u === url).length

const JWKS_PATH = '/.well-known/jwks.json'
const HOUR = 3600

interface Issuer { app: FastifyInstance, url: string, hits: () => number }

/** An issuer service on loopback: signs with `privateKey`, publishes its keys at JWKS_PATH. */
async function startIssuer (t: Test, options: Partial<AuthxOptions>): Promise<Issuer> {
  const app = Fastify()
  let hits = 0
  app.addHook('onRequest', async request => { if (request.url === JWKS_PATH) hits++ })
  // Its tokens are dated a minute back: a verifier's test clock is frozen when made, and under load the
  // real time that dates a token can pass it by a second (nbf would then be in the verifier's future).
  await app.register(authx, { decodeAlgorithms: ['ES256', 'EdDSA'], jwksRoute: JWKS_PATH, now: () => Date.now() - 60_000, ...options } as AuthxOptions)
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await app.close() })
  return { app, url: address + JWKS_PATH, hits: () => hits }
}


/** A verify-only service: its keys come from `jwksUrl`; /me answers the verified subject. */
async function startVerifier (t: Test, jwksUrl: string, time: TestClock, options: Partial<AuthxOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(authx, { jwksUrl, decodeAlgorithms: ['ES256', 'EdDSA', 'RS256', 'ES384'], now: time.now, ...options } as AuthxOptions)
  app.get('/me', { onRequest: app.requireAccess }, async request => ({ sub: request.tokenPayload.sub }))
  app.get('/sync', {
    onRequest: (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
      let sync = true
      let called = false
      app.requireAccess(request, reply, err => {
        called = true
        if (err === undefined) reply.header('x-sync', String(sync))
        done(err)
      })
      sync = called
    }
  }, async () => 'ok')
  await app.ready()
  t.teardown(async () => { await app.close() })
  return app
}

async function call (app: FastifyInstance, token: string, url = '/me') {
  const res = await app.inject({ url, headers: bearer(token) })
  const body = String(res.headers['content-type']).startsWith('application/json') ? res.json() : {}
  return { status: res.statusCode, code: body.code as string | undefined, sub: body.sub as string | undefined, res }
}

/** A token made by hand: any key, alg, kid and header members, valid claims unless overridden. */
function forge (key: KeyObject | string, alg: string, kid: string | undefined, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000)
  const signer = createSigner({
    key: typeof key === 'string' ? key : key.export({ format: 'pem', type: 'pkcs8' }) as string,
    algorithm: alg as any,
    ...(kid === undefined ? {} : { kid }),
    header: header as any,
    noTimestamp: true
  })
  // dated a minute back: a verifier's test clock, frozen when it was made, may lag the real time by a second
  return signer({ sub: 'mallory', type: 'access', jti: randomUUID(), iat: now - 60, nbf: now - 60, exp: now + 600, fresh: false, ...claims })
}

/**
 * Waits for a JWKS fetch started at the current clock: a token with a kid no key has waits for the
 * running fetch, or answers at once when it has ended (the cooldown keeps it from starting another).
 */
async function settle (app: FastifyInstance): Promise<void> {
  await app.inject({ url: '/me', headers: bearer(forge(keyPair('ES256').privateKey, 'ES256', `probe-${randomUUID()}`)) })
}

/** A JWKS server whose answer the test sets: status, headers, body; or a redirect. */
interface FakeJwks { url: string, hits: () => number, answer: (status: number, body: unknown, headers?: Record<string, string>) => void }
async function fakeJwks (t: Test, handler?: (req: IncomingMessage, res: ServerResponse) => void): Promise<FakeJwks> {
  let hits = 0
  let reply: { status: number, body: string, headers: Record<string, string> } = { status: 200, body: '{"keys":[]}', headers: {} }
  const server: Server = createHttpServer((req, res) => {
    hits++
    if (handler !== undefined) { handler(req, res); return }
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers })
    res.end(reply.body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}${JWKS_PATH}`,
    hits: () => hits,
    answer: (status, body, headers = {}) => { reply = { status, body: typeof body === 'string' ? body : JSON.stringify(body), headers } }
  }
}

/** The public JWK of a key pair as an issuer publishes it. */
function publicJwk (pair: { publicKey: KeyObject }, kid: string, alg: string, extra: Record<string, unknown> = {}): JsonWebKey {
  return { ...pair.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig', ...extra }
}

for (const alg of ['ES256', 'EdDSA'] as const) {
  t.test(`${alg}: a verifier takes the issuer's keys from jwksUrl`, async t => {
    const issuer = await startIssuer(t, { algorithm: alg, privateKey: keyPair(alg).privateKey, issuer: 'https://issuer.test', audience: 'api' })
    const time = testClock()
    const verifier = await startVerifier(t, issuer.url, time, { decodeIssuer: 'https://issuer.test', decodeAudience: 'api' })
    t.equal(issuer.hits(), 1, 'one fetch, at ready')

    const token = issuer.app.createAccessToken('alice', { scopes: ['read'] })
    let r = await call(verifier, token)
    t.equal(r.status, 200)
    t.equal(r.sub, 'alice')
    for (let i = 0; i < 20; i++) t.equal((await call(verifier, token)).status, 200)
    t.equal(issuer.hits(), 1, 'a cached kid costs no fetch')
    r = await call(verifier, token, '/sync')
    t.equal(r.res.headers['x-sync'], 'true', 'a cached kid is verified on the synchronous guard path')

    // The same claim checks as configured keys.
    t.equal((await call(verifier, issuer.app.createRefreshToken('alice'))).code, 'FST_AUTHX_ACCESS_TOKEN_REQUIRED')
    const kid = (verifier.authx.jwks().keys[0] as { kid: string }).kid
    t.equal((await call(verifier, forge(keyPair(alg).privateKey, alg, kid, { iss: 'https://issuer.test', aud: 'api', exp: Math.floor(Date.now() / 1000) - 120 }))).code, 'FST_AUTHX_TOKEN_EXPIRED')
    t.equal((await call(verifier, forge(keyPair(alg).privateKey, alg, kid, { iss: 'https://evil.test', aud: 'api' }))).code, 'FST_AUTHX_INVALID_TOKEN', 'decodeIssuer is checked')
    t.equal((await call(verifier, forge(keyPair(alg).privateKey, alg, kid, { iss: 'https://issuer.test', aud: 'other' }))).code, 'FST_AUTHX_INVALID_TOKEN', 'decodeAudience is checked')
    t.equal((await call(verifier, forge(keyPair(alg).privateKey, alg, kid, { iss: 'https://issuer.test', aud: 'api' }))).status, 200, 'control: the same forge with good claims passes')
    t.equal((await call(verifier, forge(keyPair(alg).privateKey, alg, undefined, { iss: 'https://issuer.test', aud: 'api' }))).code, 'FST_AUTHX_INVALID_TOKEN', 'a token without kid names no published key')
    const other = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')
    t.equal((await call(verifier, forge(other.privateKey, alg, kid, { iss: 'https://issuer.test', aud: 'api' }))).code, 'FST_AUTHX_INVALID_TOKEN', 'a published kid with another key\'s signature')
    t.equal((await call(verifier, 'x'.repeat(9000))).code, 'FST_AUTHX_INVALID_TOKEN', 'maxTokenLength holds')

    t.same(verifier.authx.jwks(), issuer.app.authx.jwks(), 'jwks() answers the keys the verifier holds')
    t.throws(() => verifier.createAccessToken('alice'), { code: 'FST_AUTHX_VERIFY_ONLY' })
    t.equal(issuer.hits(), 1, 'nothing above fetched again')
  })
}

t.test('keys come from the configured URL only: never from jku, x5u or iss', async t => {
  const issuer = await startIssuer(t, { algorithm: 'ES256', privateKey: keyPair('ES256').privateKey })
  const trap = await fakeJwks(t)
  const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  trap.answer(200, { keys: [publicJwk(attacker, 'evil', 'ES256')] })
  const time = testClock()
  const verifier = await startVerifier(t, issuer.url, time)
  fetched.length = 0
  time.advance(60_000)
  const token = forge(attacker.privateKey, 'ES256', 'evil', { iss: trap.url }, { jku: trap.url, x5u: trap.url })
  t.equal((await call(verifier, token)).code, 'FST_AUTHX_INVALID_TOKEN')
  t.equal(trap.hits(), 0, 'the URLs a token names are never fetched')
  t.same(fetched, [issuer.url], 'the one fetch went to jwksUrl')
  t.equal(issuer.hits(), 2)
})

t.test('rotation on the issuer is picked up without restarting the verifier', async t => {
  // The JWKS URL stays; the issuer service behind it is redeployed with its new key (a front that
  // forwards to whichever issuer is deployed, as a load balancer would).
  const a = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const b = generateKeyPairSync('ed25519')
  const time = testClock() // one clock for issuer and verifier, as synchronised hosts have
  const issuerApp = async (options: Partial<AuthxOptions>) => {
    const app = Fastify()
    await app.register(authx, { decodeAlgorithms: ['ES256', 'EdDSA'], jwksRoute: JWKS_PATH, now: time.now, ...options } as AuthxOptions)
    await app.ready()
    t.teardown(async () => { await app.close() })
    return app
  }
  let deployed = await issuerApp({ algorithm: 'ES256', privateKey: a.privateKey })
  const front = await fakeJwks(t, (req, res) => {
    deployed.inject({ url: req.url as string }).then(r => {
      res.writeHead(r.statusCode, { 'content-type': r.headers['content-type'] as string, 'cache-control': r.headers['cache-control'] as string })
      res.end(r.body)
    }, () => { res.writeHead(500).end() })
  })
  const verifier = await startVerifier(t, front.url, time)
  const oldToken = deployed.createAccessToken('alice')
  t.equal((await call(verifier, oldToken)).status, 200)

  // Step 1: deploy the new key beside the old one (the old one is published, no longer signs).
  deployed = await issuerApp({ algorithm: 'EdDSA', privateKey: b.privateKey, previousPublicKeys: [a.publicKey] })
  const newToken = deployed.createAccessToken('bob')
  t.equal((await call(verifier, newToken)).code, 'FST_AUTHX_INVALID_TOKEN', 'within the cooldown of the last fetch the new kid is unknown')
  time.advance(30_000)
  const r = await call(verifier, newToken)
  t.equal(r.status, 200, 'one cooldown later the new key is fetched and found')
  t.equal(r.sub, 'bob')
  t.equal((await call(verifier, oldToken)).status, 200, 'tokens of the old key still pass during the overlap')
  t.equal(front.hits(), 2)

  // Step 2: once the old tokens' lifetime is over, drop the old key.
  deployed = await issuerApp({ algorithm: 'EdDSA', privateKey: b.privateKey })
  time.advance(HOUR * 1000)
  t.equal((await call(verifier, oldToken)).code, 'FST_AUTHX_TOKEN_EXPIRED', 'the old tokens\' lifetime is over')
  const later = deployed.createAccessToken('bob')
  t.equal((await call(verifier, later)).status, 200, 'past max-age the cache answers while one fetch refreshes it')
  await settle(verifier)
  t.equal(front.hits(), 3)
  t.equal((await call(verifier, oldToken)).code, 'FST_AUTHX_INVALID_TOKEN', 'the dropped key is gone from the verifier')
  t.equal((await call(verifier, later)).status, 200)
})

t.test('a hung JWKS server: every fetch is aborted by its timeout and the verdict is 503', async t => {
  const sockets: Socket[] = []
  const closed: Array<Promise<unknown>> = []
  const hung = createNetServer(socket => { // accepts, reads, never answers
    sockets.push(socket)
    socket.once('data', () => { closed.push(once(socket, 'close')) })
  })
  await new Promise<void>(resolve => hung.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); hung.close() })
  const url = `http://127.0.0.1:${(hung.address() as { port: number }).port}${JWKS_PATH}`
  const time = testClock()
  const verifier = await startVerifier(t, url, time, { jwks: { timeout: 50 } })
  t.equal(fetchesOf(url), 1, 'ready tried once and did not wait for ever')
  const token = forge(keyPair('ES256').privateKey, 'ES256', 'some-kid')
  t.equal((await call(verifier, token)).code, 'FST_AUTHX_JWKS_UNAVAILABLE', 'within the cooldown after a failure: 503 without a fetch')
  t.equal(fetchesOf(url), 1, 'no fetch within the cooldown')
  for (let i = 1; i <= 3; i++) {
    time.advance(30_000)
    const r = await call(verifier, token)
    t.equal(r.status, 503)
    t.equal(r.code, 'FST_AUTHX_JWKS_UNAVAILABLE')
    t.equal(fetchesOf(url), 1 + i, 'one fetch per cooldown')
  }
  t.ok(closed.length >= 1)
  await Promise.all(closed)
  t.pass('every connection that carried a request was closed by its abort (this test would time out otherwise)')

  // Headers sent, body never finished: the same timeout bounds reading the body.
  const dribble = await fakeJwks(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"keys":[')
  })
  const second = await startVerifier(t, dribble.url, time, { jwks: { timeout: 50 } })
  time.advance(30_000)
  t.equal((await call(second, token)).code, 'FST_AUTHX_JWKS_UNAVAILABLE')
  t.equal(fetchesOf(dribble.url), 2)
})

t.test('an unknown-kid flood costs one fetch per cooldown; concurrent lookups share it', async t => {
  const issuer = await startIssuer(t, { algorithm: 'ES256', privateKey: keyPair('ES256').privateKey })
  const time = testClock()
  const verifier = await startVerifier(t, issuer.url, time)
  t.equal(issuer.hits(), 1)
  const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const flood = async (n: number) => await Promise.all(Array.from({ length: n }, async () => await call(verifier, forge(attacker.privateKey, 'ES256', randomUUID()))))

  let answers = await flood(100)
  t.ok(answers.every(a => a.code === 'FST_AUTHX_INVALID_TOKEN'), 'all 401, none 503')
  t.equal(issuer.hits(), 1, 'within the cooldown after ready: no fetch at all')
  time.advance(30_000)
  answers = await flood(100)
  t.ok(answers.every(a => a.code === 'FST_AUTHX_INVALID_TOKEN'))
  t.equal(issuer.hits(), 2, '100 concurrent made-up kids: one fetch')
  time.advance(29_000)
  answers = await flood(100)
  t.ok(answers.every(a => a.code === 'FST_AUTHX_INVALID_TOKEN'))
  t.equal(issuer.hits(), 2, 'still within the cooldown: none')
  time.advance(1000)
  for (let i = 0; i < 100; i++) t.equal((await call(verifier, forge(attacker.privateKey, 'ES256', randomUUID()))).status, 401)
  t.equal(issuer.hits(), 3, '100 sequential made-up kids: one fetch')

  // Concurrent requests for a key the issuer just added all wait for the same fetch and all pass.
  const gate = await fakeJwks(t)
  const fresh = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const v2 = await startVerifier(t, gate.url, time)
  gate.answer(200, { keys: [publicJwk(fresh, 'new', 'ES256')] })
  time.advance(30_000)
  const token = forge(fresh.privateKey, 'ES256', 'new')
  const results = await Promise.all(Array.from({ length: 50 }, async () => await call(v2, token)))
  t.same(results.map(r => r.status), Array(50).fill(200), 'every one of them passes')
  t.equal(gate.hits(), 2, 'ready plus one shared fetch')
})

t.test('only a 200 JSON answer from the URL itself: no redirects, no other status', async t => {
  const issuer = await startIssuer(t, { algorithm: 'ES256', privateKey: keyPair('ES256').privateKey })
  const token = issuer.app.createAccessToken('alice')
  const time = testClock()
  const cases: Array<[string, (req: IncomingMessage, res: ServerResponse) => void]> = [
    ['302 to the real JWKS', (_req, res) => { res.writeHead(302, { location: issuer.url }).end() }],
    ['307 to the real JWKS', (_req, res) => { res.writeHead(307, { location: issuer.url }).end() }],
    ['500 with a JWKS body', (_req, res) => { res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify(issuer.app.authx.jwks())) }],
    ['204', (_req, res) => { res.writeHead(204).end() }],
    ['200 as text/html', (_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }).end(JSON.stringify(issuer.app.authx.jwks())) }],
    ['200 JSON that is not a JWKS', (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"kys":[]}') }],
    ['200 broken JSON', (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[') }],
    ['200 too large', (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: issuer.app.authx.jwks().keys, pad: 'x'.repeat(600 * 1024) })) }]
  ]
  for (const [name, handler] of cases) {
    const server = await fakeJwks(t, handler)
    const verifier = await startVerifier(t, server.url, time)
    time.advance(30_000)
    const r = await call(verifier, token)
    t.equal(r.status, 503, name)
    t.equal(r.code, 'FST_AUTHX_JWKS_UNAVAILABLE', name)
    t.equal(server.hits(), 2, `${name}: ready and the request each fetched once`)
  }
  t.equal(issuer.hits(), 0, 'no redirect was followed')

  // Control: the same answer straight from the issuer passes, with `application/jwk-set+json` too.
  const ok = await fakeJwks(t, (_req, res) => { res.writeHead(200, { 'content-type': 'application/jwk-set+json; charset=utf-8' }).end(JSON.stringify(issuer.app.authx.jwks())) })
  const verifier = await startVerifier(t, ok.url, time)
  t.equal((await call(verifier, token)).status, 200)
})

t.test('Cache-Control max-age is honoured within jwks.minAge and jwks.maxAge', async t => {
  const pair = keyPair('ES256')
  const token = forge(pair.privateKey, 'ES256', 'k1', { exp: Math.floor(Date.now() / 1000) + 3600 }) // outlives the 10 minutes walked below
  const jwks = { keys: [publicJwk(pair, 'k1', 'ES256')] }
  const cases: Array<[string, string | undefined, number]> = [
    ['max-age=5 is raised to the floor', 'public, max-age=5', 60],
    ['max-age=100000 is lowered to the ceiling', 'max-age=100000', 600],
    ['max-age=120 is kept', 'max-age=120', 120],
    ['no-store counts as the floor', 'no-store, max-age=300', 60],
    ['no header counts as the floor', undefined, 60]
  ]
  for (const [name, header, age] of cases) {
    const server = await fakeJwks(t)
    server.answer(200, jwks, header === undefined ? {} : { 'cache-control': header })
    const time = testClock()
    const verifier = await startVerifier(t, server.url, time, { jwks: { cooldown: 1, minAge: 60, maxAge: '10m' } })
    time.advance((age - 1) * 1000)
    t.equal((await call(verifier, token)).status, 200)
    t.equal(fetchesOf(server.url), 1, `${name}: still fresh at ${age - 1} s`)
    time.advance(1000)
    t.equal((await call(verifier, token)).status, 200)
    t.equal(fetchesOf(server.url), 2, `${name}: refreshed at ${age} s`)
    await settle(verifier)
    t.equal(server.hits(), 2)
  }
})

t.test('a failing issuer: cached keys keep working for jwks.staleFor, unknown keys get 503', async t => {
  const pair = keyPair('ES256')
  const token = forge(pair.privateKey, 'ES256', 'k1')
  const later = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const laterToken = forge(later.privateKey, 'ES256', 'k2')
  const server = await fakeJwks(t)
  server.answer(200, { keys: [publicJwk(pair, 'k1', 'ES256')] }, { 'cache-control': 'max-age=60' })
  const time = testClock()
  const verifier = await startVerifier(t, server.url, time, { jwks: { cooldown: 10, minAge: 60, staleFor: 300 } })

  server.answer(500, 'down')
  time.advance(61_000)
  t.equal((await call(verifier, token)).status, 200, 'past max-age, the issuer down: the cached key still verifies')
  await settle(verifier)
  t.equal(server.hits(), 2, 'and one refetch was tried')
  t.equal((await call(verifier, laterToken)).code, 'FST_AUTHX_JWKS_UNAVAILABLE', 'a key the cache lacks: 503, not 401, while the issuer cannot say')
  time.advance(10_000)
  t.equal((await call(verifier, token)).status, 200)
  await settle(verifier)
  t.equal(server.hits(), 3, 'retries keep to one per cooldown')
  time.advance((60 + 300 - 71) * 1000)
  const r = await call(verifier, token)
  t.equal(r.code, 'FST_AUTHX_JWKS_UNAVAILABLE', 'past max-age + staleFor the old keys are dropped: fail closed')
  t.equal(server.hits(), 4)

  server.answer(200, { keys: [publicJwk(pair, 'k1', 'ES256'), publicJwk(later, 'k2', 'ES256')] })
  time.advance(10_000)
  t.equal((await call(verifier, token)).status, 200, 'the issuer is back: fetched again')
  t.equal((await call(verifier, laterToken)).status, 200)
  t.equal(server.hits(), 5)
})

t.test('each JWK is checked before it becomes a verifier', async t => {
  const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const good = ec()
  const withD = ec()
  const encUse = ec()
  const encOps = ec()
  const verifyOps = ec()
  const wrongCurve = ec()
  const noAlg = ec()
  const dupA = ec()
  const dupB = ec()
  const ed = generateKeyPairSync('ed25519')
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 })
  const secret = 'an-hmac-secret-that-is-32-bytes-long!!'
  const privateJwk = withD.privateKey.export({ format: 'jwk' })
  const server = await fakeJwks(t)
  server.answer(200, {
    keys: [
      publicJwk(good, 'good', 'ES256'),
      { kty: 'oct', k: Buffer.from(secret).toString('base64url'), kid: 'oct', alg: 'HS256', use: 'sig' },
      { ...privateJwk, kid: 'private', alg: 'ES256', use: 'sig' },
      publicJwk(encUse, 'enc-use', 'ES256', { use: 'enc' }),
      publicJwk(encOps, 'enc-ops', 'ES256', { use: undefined, key_ops: ['encrypt'] }),
      publicJwk(verifyOps, 'verify-ops', 'ES256', { use: undefined, key_ops: ['verify'] }),
      publicJwk(wrongCurve, 'wrong-alg', 'ES384'),
      publicJwk(noAlg, 'no-alg', 'ES256', { alg: undefined }),
      publicJwk(ed, 'ed', 'EdDSA'),
      publicJwk(small, 'small-rsa', 'RS256'),
      publicJwk(dupA, 'dup', 'ES256'),
      publicJwk(dupB, 'dup', 'ES256'),
      'not a key'
    ]
  })
  const time = testClock()
  const verifier = await startVerifier(t, server.url, time)
  const status = async (token: string) => (await call(verifier, token)).status
  t.equal(await status(forge(good.privateKey, 'ES256', 'good')), 200, 'control: a good key')
  t.equal(await status(forge(verifyOps.privateKey, 'ES256', 'verify-ops')), 200, 'control: key_ops with verify')
  t.equal(await status(forge(ed.privateKey, 'EdDSA', 'ed')), 200, 'control: an EdDSA key')
  t.equal(await status(forge(secret, 'HS256', 'oct')), 401, 'a symmetric (oct) key is refused')
  t.equal(await status(forge(withD.privateKey, 'ES256', 'private')), 401, 'a key with private members is refused')
  t.equal(await status(forge(encUse.privateKey, 'ES256', 'enc-use')), 401, 'use other than sig is refused')
  t.equal(await status(forge(encOps.privateKey, 'ES256', 'enc-ops')), 401, 'key_ops without verify is refused')
  t.equal(await status(forge(wrongCurve.privateKey, 'ES256', 'wrong-alg')), 401, 'an alg that does not fit the key is refused')
  t.equal(await status(forge(noAlg.privateKey, 'ES256', 'no-alg')), 401, 'a key without alg is refused')
  t.equal(await status(forge(small.privateKey, 'RS256', 'small-rsa')), 401, 'an RSA key under 2048 bits is refused')
  t.equal(await status(forge(dupA.privateKey, 'ES256', 'dup')), 401, 'two keys under one kid: neither is used')
  t.equal(await status(forge(good.privateKey, 'ES384', 'good')), 401, 'a token alg other than the key\'s pinned alg')
  t.equal(await status(forge(ed.privateKey, 'EdDSA', 'good')), 401, 'another key under a known kid')
  const held = verifier.authx.jwks().keys as Array<Record<string, unknown>>
  t.same(held.map(k => k.kid).sort(), ['ed', 'good', 'verify-ops'])
  t.ok(held.every(k => ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].every(m => !(m in k))), 'no private member is kept')
  t.equal(server.hits(), 1, 'all decided from the one answer (within the cooldown)')
})

t.test('an issuer down at startup does not stop the verifier from starting', async t => {
  const server = await fakeJwks(t)
  server.answer(503, 'starting')
  const time = testClock()
  const verifier = await startVerifier(t, server.url, time)
  const pair = keyPair('ES256')
  const token = forge(pair.privateKey, 'ES256', 'k1')
  t.equal((await call(verifier, token)).code, 'FST_AUTHX_JWKS_UNAVAILABLE')
  server.answer(200, { keys: [publicJwk(pair, 'k1', 'ES256')] })
  time.advance(30_000)
  t.equal((await call(verifier, token)).status, 200, 'the first request after a cooldown fetches the keys')
  t.equal(server.hits(), 2)
  t.equal((await call(verifier, token, '/sync')).res.headers['x-sync'], 'true')
})

t.test('verifyToken on a jwksUrl instance: cached keys only, an uncached one answers 503 and is fetched', async t => {
  const server = await fakeJwks(t)
  const pair = keyPair('ES256')
  server.answer(200, { keys: [publicJwk(pair, 'k1', 'ES256')] })
  const time = testClock()
  const verifier = await startVerifier(t, server.url, time)
  t.equal(verifier.authx.verifyToken(forge(pair.privateKey, 'ES256', 'k1')).sub, 'mallory')
  const later = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  server.answer(200, { keys: [publicJwk(pair, 'k1', 'ES256'), publicJwk(later, 'k2', 'ES256')] })
  time.advance(30_000)
  const token = forge(later.privateKey, 'ES256', 'k2')
  t.throws(() => verifier.authx.verifyToken(token), { code: 'FST_AUTHX_JWKS_UNAVAILABLE', statusCode: 503 })
  await settle(verifier)
  t.equal(verifier.authx.verifyToken(token).sub, 'mallory')
})

t.test('jwksUrl options', async t => {
  const url = 'https://issuer.example/.well-known/jwks.json'
  const bad = async (options: Record<string, unknown>, message: RegExp) => {
    const app = Fastify()
    await t.rejects(async () => { await app.register(authx, options as AuthxOptions).ready() }, { code: 'FST_AUTHX_BAD_OPTIONS', message })
    await app.close()
  }
  await bad({ jwksUrl: url }, /decodeAlgorithms/)
  await bad({ jwksUrl: url, decodeAlgorithms: ['HS256'] }, /decodeAlgorithms: asymmetric algorithms only/)
  await bad({ jwksUrl: url, decodeAlgorithms: ['none'] }, /decodeAlgorithms/)
  await bad({ jwksUrl: url, decodeAlgorithms: ['ES256'], secret: 'x'.repeat(32) }, /secret: nothing with jwksUrl/)
  await bad({ jwksUrl: url, decodeAlgorithms: ['ES256'], publicKey: keyPair('ES256').publicKey }, /publicKey: nothing with jwksUrl/)
  await bad({ jwksUrl: url, decodeAlgorithms: ['ES256'], privateKey: keyPair('ES256').privateKey }, /privateKey: nothing with jwksUrl/)
  await bad({ jwksUrl: url, decodeAlgorithms: ['ES256'], previousPublicKeys: [keyPair('ES256').publicKey] }, /previousPublicKeys/)
  await bad({ jwksUrl: url, decodeAlgorithms: ['ES256'], jwksRoute: '/jwks' }, /jwksRoute/)
  await bad({ jwksUrl: url, decodeAlgorithms: ['ES256'], implicitRefresh: true }, /implicitRefresh/)
  await bad({ jwksUrl: url, decodeAlgorithms: ['ES256'], algorithm: 'RS256' }, /algorithm/)
  await bad({ jwksUrl: 'ftp://issuer.example/jwks', decodeAlgorithms: ['ES256'] }, /jwksUrl: an absolute http\(s\) URL/)
  await bad({ jwksUrl: '/relative', decodeAlgorithms: ['ES256'] }, /jwksUrl/)
  await bad({ jwks: { timeout: 100 }, secret: 'x'.repeat(32) }, /jwks: only with jwksUrl/)
  await bad({ jwksUrl: url, decodeAlgorithms: ['ES256'], jwks: { timeout: 0 } }, /jwks\.timeout/)
  await bad({ jwksUrl: url, decodeAlgorithms: ['ES256'], jwks: { cooldown: 'soon' } }, /jwks\.cooldown/)
  await bad({ jwksUrl: url, decodeAlgorithms: ['ES256'], jwks: { minAge: '2h', maxAge: '1h' } }, /jwks\.minAge: at most jwks\.maxAge/)
  await bad({ jwksUrl: url, decodeAlgorithms: ['ES256'], jwks: { retries: 3 } }, /jwks/)

  const publicOnly = Fastify()
  await publicOnly.register(authx, { algorithm: 'ES256', publicKey: keyPair('ES256').publicKey })
  t.throws(() => publicOnly.createAccessToken('a'), { code: 'FST_AUTHX_VERIFY_ONLY' }, 'a publicKey-only instance throws the same coded error')
  await publicOnly.close()
})

t.test('failures are logged as fixed lines: never the answer\'s body, a key or the URL', async t => {
  const CANARY = 'CANARY-9f1c'
  const server = await fakeJwks(t)
  server.answer(500, `{"error":"${CANARY}"}`)
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { lines.push(line) } } } })
  const time = testClock()
  await app.register(authx, { jwksUrl: `${server.url}?token=${CANARY}`, decodeAlgorithms: ['ES256'], now: time.now })
  app.get('/me', { onRequest: app.requireAccess }, async () => 'ok')
  await app.ready()
  t.teardown(async () => { await app.close() })
  const token = forge(keyPair('ES256').privateKey, 'ES256', 'k1')
  time.advance(30_000)
  const res = await app.inject({ url: '/me', headers: bearer(token) })
  t.equal(res.statusCode, 503)
  t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'])
  t.notMatch(res.body, CANARY)

  const pair = keyPair('ES256')
  server.answer(200, { keys: [{ ...pair.privateKey.export({ format: 'jwk' }), kid: CANARY, alg: 'ES256' }, publicJwk(pair, 'k1', 'ES256')] })
  time.advance(30_000)
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200)
  const log = lines.join('\n')
  t.match(log, 'fastify-authx: the JWKS fetch failed (HTTP 500)')
  t.match(log, 'fastify-authx: JWKS keys skipped: 1 private members')
  t.notMatch(log, CANARY, 'no body, URL or kid from the answer in the log')
  t.notMatch(log, pair.privateKey.export({ format: 'jwk' }).d as string)
  t.notMatch(log, token.split('.')[2])
})

t.test('a plain-http jwksUrl off loopback warns at startup', async t => {
  for (const [url, warns] of [['http://issuer.invalid/jwks.json', true], ['https://issuer.invalid/jwks.json', false], ['http://127.0.0.1:9/jwks.json', false], ['http://[::1]:9/jwks.json', false]] as const) {
    const lines: string[] = []
    const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(line) } } } })
    await app.register(authx, { jwksUrl: url, decodeAlgorithms: ['ES256'], jwks: { timeout: 50 } })
    await app.ready()
    await app.close()
    t.equal(lines.some(l => l.includes('jwksUrl is plain http')), warns, url)
    t.ok(lines.some(l => l.includes('the JWKS fetch failed')), `${url}: the failed first fetch is logged, startup went on`)
  }
})

t.test('verifyCache on a jwksUrl verifier: a cached token is only as good as its key', async t => {
  const pair = keyPair('ES256')
  const token = forge(pair.privateKey, 'ES256', 'k1')
  const server = await fakeJwks(t)
  server.answer(200, { keys: [publicJwk(pair, 'k1', 'ES256')] }, { 'cache-control': 'max-age=60' })
  const time = testClock()
  const verifier = await startVerifier(t, server.url, time, { verifyCache: true, jwks: { cooldown: 10, minAge: 60, staleFor: 300 } })
  t.equal((await call(verifier, token)).status, 200, 'verified, and cached')
  t.equal((await call(verifier, token)).status, 200, 'a cache hit')

  // the issuer drops k1: once the refetch has the new set, the cached token is refused as an uncached one is
  server.answer(200, { keys: [] }, { 'cache-control': 'max-age=60' })
  time.advance(61_000)
  await call(verifier, token) // past max-age: answered from the old set while the refetch runs
  await settle(verifier)
  t.equal((await call(verifier, token)).code, 'FST_AUTHX_INVALID_TOKEN', 'its key left the JWKS: refused though cached')

  // past staleFor with the issuer down: 503 for a cached token too
  const second = await fakeJwks(t)
  second.answer(200, { keys: [publicJwk(pair, 'k1', 'ES256')] }, { 'cache-control': 'max-age=60' })
  const time2 = testClock()
  const down = await startVerifier(t, second.url, time2, { verifyCache: true, jwks: { cooldown: 10, minAge: 60, staleFor: 300 } })
  t.equal((await call(down, token)).status, 200, 'cached')
  second.answer(500, 'down')
  time2.advance(61_000)
  t.equal((await call(down, token)).status, 200, 'within staleFor: still served')
  await settle(down)
  time2.advance(300_000)
  t.equal((await call(down, token)).code, 'FST_AUTHX_JWKS_UNAVAILABLE', 'past max-age + staleFor: 503, cached or not')
})
