import { generateKeyPairSync } from 'node:crypto'
import { createServer } from 'node:http'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import authx, { type AuthxOptions } from '../lib/index'
import { b64, headerOf, payloadOf, testClock } from './helpers/app'

// The README's key-rotation procedure, walked step by step: accept the new key everywhere, sign
// with it, wait out the longest token lifetime (on the `now` clock), drop the old key.

const ACCESS = 900
const REFRESH = 20 * 86400
const LONGEST = Math.max(ACCESS, REFRESH)


async function service (t: Test, options: Partial<AuthxOptions>): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(authx, { accessTokenExpires: ACCESS, refreshTokenExpires: REFRESH, ...options } as AuthxOptions)
  app.get('/me', { onRequest: app.requireAccess }, async request => ({ sub: request.tokenPayload.sub }))
  app.post('/refresh', { onRequest: app.requireRefresh }, async request => ({ sub: request.tokenPayload.sub }))
  await app.ready()
  t.teardown(async () => { await app.close() })
  return app
}

async function verdict (app: FastifyInstance, token: string, url = '/me'): Promise<string> {
  const res = await app.inject({ method: url === '/me' ? 'GET' : 'POST', url, headers: { authorization: `Bearer ${token}` } })
  return res.statusCode === 200 ? 'ok' : res.json().code
}


t.test('HMAC: previousSecret, walked on a fleet of instances', async t => {
  const time = testClock()
  const OLD = { secret: 'the-old-secret-with-32-bytes-or-more!!', keyId: 'k1' }
  const NEW = { secret: 'the-new-secret-with-32-bytes-or-more!!', keyId: 'k2' }

  // Before: every instance signs and verifies with the old key.
  const before = await service(t, { secret: OLD.secret, keyId: OLD.keyId, now: time.now })
  const oldAccess = before.createAccessToken('alice')
  const oldRefresh = before.createRefreshToken('alice')
  t.equal(headerOf(oldAccess).kid, 'k1')

  // Step 1: deploy the new key as a previous key everywhere: accepted, not yet used to sign.
  const step1 = await service(t, { secret: OLD.secret, keyId: OLD.keyId, previousSecret: NEW, now: time.now })
  t.equal(headerOf(step1.createAccessToken('alice')).kid, 'k1', 'step 1 still signs with the old key')
  t.equal(await verdict(step1, oldAccess), 'ok')

  // Step 2 (a deploy later): sign with the new key, keep the old one for verifying. Instances still on
  // step 1 accept what step 2 signs, so a rolling deploy refuses no one.
  time.advance(60_000)
  const step2 = await service(t, { secret: NEW.secret, keyId: NEW.keyId, previousSecret: OLD, now: time.now })
  const newAccess = step2.createAccessToken('alice')
  const newRefresh = step2.createRefreshToken('alice')
  t.equal(headerOf(newAccess).kid, 'k2', 'new tokens are signed with the new key')
  const onlyNew = await service(t, { secret: NEW.secret, keyId: NEW.keyId, now: time.now })
  const onlyOld = await service(t, { secret: OLD.secret, keyId: OLD.keyId, now: time.now })
  t.equal(await verdict(onlyNew, newAccess), 'ok')
  t.equal(await verdict(onlyOld, newAccess), 'FST_AUTHX_INVALID_TOKEN', '(the new key really is another key)')
  for (const [name, app] of [['step 1', step1], ['step 2', step2]] as const) {
    t.equal(await verdict(app, newAccess), 'ok', `${name} accepts new access tokens`)
    t.equal(await verdict(app, newRefresh, '/refresh'), 'ok', `${name} accepts new refresh tokens`)
    t.equal(await verdict(app, oldAccess), 'ok', `${name} accepts old access tokens during the overlap`)
    t.equal(await verdict(app, oldRefresh, '/refresh'), 'ok', `${name} accepts old refresh tokens during the overlap`)
  }

  // Wait out the longest lifetime counted from step 2: no token signed with the old key is left alive.
  const lastOldToken = step1.createRefreshToken('alice', {})
  time.advance(LONGEST * 1000)
  for (const token of [oldAccess, oldRefresh, lastOldToken]) t.ok(payloadOf(token).exp * 1000 <= time.now(), 'every old token has expired by now')
  t.equal(await verdict(step2, oldAccess), 'FST_AUTHX_TOKEN_EXPIRED', 'the wait retires the old access tokens')
  t.equal(await verdict(step2, lastOldToken, '/refresh'), 'FST_AUTHX_TOKEN_EXPIRED', 'and the last old refresh token')

  // Step 3: drop the old key.
  const step3 = await service(t, { secret: NEW.secret, keyId: NEW.keyId, now: time.now })
  t.equal(await verdict(step3, oldAccess), 'FST_AUTHX_INVALID_TOKEN', 'old tokens are refused once the old key is dropped')
  t.equal(await verdict(step3, oldRefresh, '/refresh'), 'FST_AUTHX_INVALID_TOKEN')
  t.equal(await verdict(step3, step2.createAccessToken('alice')), 'ok', 'what step 2 signs now is accepted')
  t.equal(headerOf(step3.createAccessToken('alice')).kid, 'k2')
})

t.test('asymmetric keys and a JWKS verifier: previousPublicKeys publishes the next key before it signs', async t => {
  const time = testClock()
  const A = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const B = generateKeyPairSync('ed25519')
  const JWKS = '/.well-known/jwks.json'
  const issuer = async (options: Partial<AuthxOptions>) => await service(t, { decodeAlgorithms: ['ES256', 'EdDSA'], jwksRoute: JWKS, now: time.now, ...options })

  let deployed = await issuer({ algorithm: 'ES256', privateKey: A.privateKey })
  // The issuer's JWKS URL stays put across deploys (as behind a load balancer).
  let fetches = 0
  const front = createServer((req, res) => {
    fetches++
    deployed.inject({ url: req.url as string }).then(r => {
      res.writeHead(r.statusCode, { 'content-type': r.headers['content-type'] as string, 'cache-control': r.headers['cache-control'] as string }).end(r.body)
    }, () => { res.writeHead(500).end() })
  })
  await new Promise<void>(resolve => front.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { front.closeAllConnections(); front.close() })
  const jwksUrl = `http://127.0.0.1:${(front.address() as { port: number }).port}${JWKS}`
  const verifier = await service(t, { jwksUrl, decodeAlgorithms: ['ES256', 'EdDSA'], now: time.now })
  t.equal(fetches, 1)
  // A token naming a kid no key has waits for a running fetch (and starts none within the cooldown).
  const settle = async () => { await verdict(verifier, `${b64({ alg: 'ES256', kid: 'none' })}.e30.c2ln`) }
  const oldToken = deployed.createAccessToken('alice')
  t.equal(await verdict(verifier, oldToken), 'ok')

  // Step 1: publish B beside A, still signing with A (B as a "previous" key: verified, never signs).
  deployed = await issuer({ algorithm: 'ES256', privateKey: A.privateKey, previousPublicKeys: [B.publicKey] })
  t.equal(deployed.authx.jwks().keys.length, 2)
  t.equal(headerOf(deployed.createAccessToken('alice')).kid, headerOf(oldToken).kid, 'step 1 still signs with A')
  // Wait one cache lifetime of the verifiers (the issuer's max-age, 300 s, within jwks.minAge/maxAge).
  time.advance(300_000)
  t.equal(await verdict(verifier, oldToken), 'ok', 'served from the cache while it refreshes')
  await settle()
  t.equal(fetches, 2, 'the verifier refreshed and now holds B')
  t.equal(verifier.authx.jwks().keys.length, 2)

  // Step 2: sign with B, keep A published. The verifier knows B already: no refusal, no extra fetch.
  deployed = await issuer({ algorithm: 'EdDSA', privateKey: B.privateKey, previousPublicKeys: [A.publicKey] })
  const newToken = deployed.createAccessToken('bob')
  t.not(headerOf(newToken).kid, headerOf(oldToken).kid, 'new tokens are signed with B')
  t.equal(await verdict(verifier, newToken), 'ok')
  t.equal(await verdict(verifier, oldToken), 'ok', 'A tokens still pass during the overlap')
  t.equal(fetches, 2)

  // Wait out the longest lifetime, then drop A.
  time.advance(LONGEST * 1000)
  t.ok(payloadOf(oldToken).exp * 1000 <= time.now(), 'the last A token has expired by now')
  t.equal(await verdict(deployed, oldToken), 'FST_AUTHX_TOKEN_EXPIRED', 'the wait retires the A tokens')
  deployed = await issuer({ algorithm: 'EdDSA', privateKey: B.privateKey })
  const later = deployed.createAccessToken('bob')
  t.equal(await verdict(verifier, later), 'ok', 'served from the cache while it refreshes')
  await settle()
  t.equal(fetches, 3)
  t.equal(await verdict(verifier, oldToken), 'FST_AUTHX_INVALID_TOKEN', 'A is gone from the verifier too')
  t.equal(await verdict(deployed, oldToken), 'FST_AUTHX_INVALID_TOKEN', 'and from the issuer')
  t.equal(await verdict(verifier, later), 'ok')
})
