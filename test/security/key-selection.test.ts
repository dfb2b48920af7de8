/**
 * Attack class 6: key-selection header parameters.
 * Sources: RFC 7515 §4.1.2 (jku), §4.1.3 (jwk), §4.1.4 (kid), §4.1.5 (x5u), §4.1.6 (x5c), §4.1.11 (crit);
 * RFC 8725 §3.10 ("jku/x5u ... SSRF"), §2.x (kid injection); OWASP JWT cheat sheet / WSTG-SESS-10
 * ("kid" path traversal and SQL injection, "jwk"/"jku" header injection); CVE-2018-0114 (node-jose
 * trusted the embedded jwk); README "Security" (keys are picked by `kid` among the configured ones only).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import type { AuthxOptions } from '../../lib/index'
import { keyPair } from '../helpers/app'
import { LOCATIONS, SECRET, carry, claims, expectAccepted, expectRefused, harness, hs, jws, type Harness } from './helpers'

const INVALID = 'FST_AUTHX_INVALID_TOKEN'
const PREVIOUS = 'a-previous-secret-that-is-32-bytes-or-more'

async function refusedEverywhere (t: Test, h: Harness, token: string, label: string) {
  for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token), [token], { code: INVALID, label: `${label} via ${location}` })
}

const KIDS: unknown[] = [
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__',
  '../../etc/passwd', '../../../../dev/null', '/dev/null', 'file:///etc/passwd', '..\\..\\windows\\win.ini',
  "' OR '1'='1", "k1' UNION SELECT 'secret' --", 'k1; DROP TABLE keys', '$(id)', '`id`', '|id', 'k1\u0000', 'k1 ', ' k1', 'K1',
  'http://127.0.0.1/', '{{7*7}}', '${jndi:ldap://127.0.0.1/a}', 'k'.repeat(4000),
  '', 0, 1, -1, null, true, false, {}, { toString: 'k1' }, [], ['k1'], [['k1']]
]

t.test('kid injection of every kind, with HMAC keyIds (RFC 7515 §4.1.4, RFC 8725 §3.10, OWASP kid injection)', async t => {
  const instances: Array<[string, AuthxOptions]> = [
    ['single key with keyId', { secret: SECRET, keyId: 'k1' }],
    ['current + previous keyIds (the kid map path)', { secret: SECRET, keyId: 'k1', previousSecret: { secret: PREVIOUS, keyId: 'k0' } }],
    ['current without keyId (a kid names nothing)', { secret: SECRET }]
  ]
  for (const [name, options] of instances) {
    const h = await harness(options)
    await t.test(name, async t => {
      for (const kid of KIDS) {
        // signed with the real current secret: only the kid is wrong
        await refusedEverywhere(t, h, hs(claims(), { alg: 'HS256', typ: 'JWT', kid }), `kid ${JSON.stringify(kid).slice(0, 40)}`)
        // and with the previous secret
        await refusedEverywhere(t, h, hs(claims(), { alg: 'HS256', typ: 'JWT', kid }, PREVIOUS), `kid ${JSON.stringify(kid).slice(0, 40)}, previous secret`)
      }
      t.equal(({} as any).k1, undefined, 'no prototype was touched')
    })
    await h.close()
  }
})

t.test('kid picks the key: a known kid with the other key\'s signature is refused (README "Key rotation")', async t => {
  const h = await harness({ secret: SECRET, keyId: 'k1', previousSecret: { secret: PREVIOUS, keyId: 'k0' } })
  for (const location of LOCATIONS) {
    await expectAccepted(t, h, carry(location, hs(claims(), { alg: 'HS256', kid: 'k1' })), `k1 + current via ${location}`)
    await expectAccepted(t, h, carry(location, hs(claims(), { alg: 'HS256', kid: 'k0' }, PREVIOUS)), `k0 + previous via ${location}`)
    await expectAccepted(t, h, carry(location, hs(claims(), { alg: 'HS256' }, PREVIOUS)), `no kid + previous (tried in order) via ${location}`)
  }
  await refusedEverywhere(t, h, hs(claims(), { alg: 'HS256', kid: 'k1' }, PREVIOUS), 'kid k1 signed with the previous key')
  await refusedEverywhere(t, h, hs(claims(), { alg: 'HS256', kid: 'k0' }), 'kid k0 signed with the current key')
  await refusedEverywhere(t, h, hs(claims(), { alg: 'HS256' }, 'some-third-secret-of-32-bytes-length!!'), 'no kid, unknown key')
  await h.close()
})

t.test('kid injection on an asymmetric instance with previous keys (RFC 7515 §4.1.4)', async t => {
  const rs = keyPair('RS256')
  const prev = keyPair('PS256') // another RSA key
  const h = await harness({ algorithm: 'RS256', privateKey: rs.privateKey, previousPublicKeys: [prev.publicKey] })
  const kids = h.app.authx.jwks().keys.map(k => (k as { kid: string }).kid)
  await expectAccepted(t, h, carry('headers', h.app.createAccessToken('u')), 'control')
  await expectAccepted(t, h, carry('headers', jws({ alg: 'RS256', kid: kids[1] }, claims(), prev.privateKey)), 'previous key by its kid')
  for (const kid of KIDS) {
    await refusedEverywhere(t, h, jws({ alg: 'RS256', typ: 'JWT', kid }, claims(), rs.privateKey), `RS256 kid ${JSON.stringify(kid).slice(0, 40)}`)
  }
  await refusedEverywhere(t, h, jws({ alg: 'RS256', kid: kids[0] }, claims(), prev.privateKey), 'current kid, previous key')
  await refusedEverywhere(t, h, jws({ alg: 'RS256', kid: kids[1] }, claims(), rs.privateKey), 'previous kid, current key')
  await h.close()
})

t.test('an embedded jwk header with the attacker\'s own key is ignored (RFC 7515 §4.1.3, CVE-2018-0114)', async t => {
  const victim = keyPair('RS256')
  const attacker = keyPair('RS384') // another RSA key pair, the attacker's
  const h = await harness({ algorithm: 'RS256', privateKey: victim.privateKey })
  const kid = (h.app.authx.jwks().keys[0] as { kid: string }).kid
  const jwk = attacker.publicKey.export({ format: 'jwk' })
  for (const header of [
    { alg: 'RS256', jwk },
    { alg: 'RS256', jwk: { ...jwk, kid }, kid },
    { alg: 'RS256', jwk: { ...jwk, alg: 'RS256', use: 'sig' } },
    { alg: 'HS256', jwk: { kty: 'oct', k: Buffer.from('attacker').toString('base64url') } }
  ]) {
    const token = header.alg === 'HS256' ? jws(header, claims(), 'attacker', { alg: 'HS256' }) : jws(header, claims(), attacker.privateKey)
    await refusedEverywhere(t, h, token, `jwk header ${JSON.stringify(header).slice(0, 50)}`)
  }
  await h.close()
  const hmac = await harness()
  const oct = { kty: 'oct', k: Buffer.from('attacker-secret').toString('base64url') }
  await refusedEverywhere(t, hmac, jws({ alg: 'HS256', jwk: oct }, claims(), 'attacker-secret'), 'HMAC instance, oct jwk header')
  await refusedEverywhere(t, hmac, jws({ alg: 'RS256', jwk }, claims(), attacker.privateKey), 'HMAC instance, RSA jwk header')
  await hmac.close()
})

/** A canary HTTP listener on 127.0.0.1:0 that serves the attacker's JWKS and counts every connection. */
async function canary (jwks: unknown): Promise<{ server: Server, url: string, connections: () => number }> {
  let connections = 0
  const server = createServer((_req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(jwks)) })
  server.on('connection', () => { connections++ })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { server, url: `http://127.0.0.1:${port}`, connections: () => connections }
}

t.test('jku / x5u / x5c never cause a fetch or select a key (RFC 7515 §4.1.2, §4.1.5, §4.1.6, RFC 8725 §3.10 SSRF)', async t => {
  const victim = keyPair('RS256')
  const attacker = keyPair('RS512')
  const attackerJwk = { ...attacker.publicKey.export({ format: 'jwk' }), kid: 'attacker', alg: 'RS256', use: 'sig' }
  const listener = await canary({ keys: [attackerJwk] })
  t.teardown(() => new Promise<void>(resolve => { listener.server.closeAllConnections(); listener.server.close(() => resolve()) }))
  // sanity: the listener does answer a real fetch
  const probe = await fetch(`${listener.url}/probe`)
  t.equal(probe.status, 200)
  const baseline = listener.connections()

  const cert = Buffer.concat([Buffer.from([0x30, 0x82, 0x03, 0x00, 0x30, 0x82, 0x02, 0x00, 0xa0, 0x03, 0x02, 0x01, 0x02]), Buffer.alloc(700, 0x41)]).toString('base64')
  for (const options of [{ algorithm: 'RS256', privateKey: victim.privateKey } as AuthxOptions, { secret: SECRET } as AuthxOptions]) {
    const h = await harness(options)
    const headers: Array<Record<string, unknown>> = [
      { alg: 'RS256', jku: `${listener.url}/jwks.json`, kid: 'attacker' },
      { alg: 'RS256', jku: `${listener.url}/jwks.json` },
      { alg: 'RS256', x5u: `${listener.url}/cert.pem`, kid: 'attacker' },
      { alg: 'RS256', x5c: [cert], kid: 'attacker' },
      { alg: 'RS256', x5c: [cert, cert], 'x5t#S256': 'AAAA' },
      { alg: 'RS256', jku: `${listener.url}/jwks.json`, x5u: `${listener.url}/x`, x5c: [cert], jwk: attackerJwk, kid: 'attacker' }
    ]
    for (const header of headers) {
      await refusedEverywhere(t, h, jws(header, claims(), attacker.privateKey), `${options.algorithm ?? 'HS256'} instance, ${Object.keys(header).join('+')}`)
    }
    // a token the instance signed itself with a jku header: accepted on its own key, still no fetch
    if (options.privateKey !== undefined || options.secret !== undefined) {
      const own = h.app.createAccessToken('u', { headers: { jku: `${listener.url}/jwks.json`, x5u: `${listener.url}/x` } })
      for (const location of LOCATIONS) await expectAccepted(t, h, carry(location, own), `own token carrying jku/x5u via ${location}`)
    }
    await h.close()
  }
  // give any stray asynchronous fetch a moment to arrive
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(listener.connections(), baseline, 'the canary listener saw no connection from the plugin')
})

t.test('crit and unknown critical extensions are refused (RFC 7515 §4.1.11, fast-jwt 6.2.0)', async t => {
  const h = await harness()
  const headers: Array<Record<string, unknown>> = [
    { alg: 'HS256', crit: ['x-must-understand'], 'x-must-understand': true },
    { alg: 'HS256', crit: ['b64'], b64: false }, // RFC 7797 unencoded payload
    { alg: 'HS256', crit: ['exp'] },
    { alg: 'HS256', crit: [] },
    { alg: 'HS256', crit: 'b64' },
    { alg: 'HS256', crit: ['alg'] }
  ]
  for (const header of headers) await refusedEverywhere(t, h, hs(claims(), header), `crit ${JSON.stringify(header.crit)}`)
  await h.close()
})

t.test('typ / cty do not switch processing (RFC 8725 §3.11, RFC 7519 §5.2 nested JWTs)', async t => {
  const h = await harness()
  // cty: JWT means "the payload is another JWT": never unwrapped
  const inner = hs(claims())
  const nested = hs(JSON.stringify(inner), { alg: 'HS256', cty: 'JWT' })
  await refusedEverywhere(t, h, nested, 'cty JWT with a nested token as payload')
  // typ values do not matter to the guard as long as the claims are right; they never select behaviour
  for (const typ of ['at+jwt', 'JWE', 'none', 42]) {
    await expectAccepted(t, h, carry('headers', hs(claims(), { alg: 'HS256', typ })), `typ ${JSON.stringify(typ)} is ignored`)
  }
  await h.close()
})

t.test('the JWKS publishes public members only, for every key type (RFC 7517 §4, RFC 7518 §6)', async t => {
  for (const alg of ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const) {
    const previous = alg === 'RS256' || alg === 'PS256' ? [keyPair('RS384').publicKey] : []
    const h = await harness({ algorithm: alg, privateKey: keyPair(alg).privateKey, previousPublicKeys: previous, jwksRoute: '/.well-known/jwks.json' })
    t.equal(h.app.authx.jwks().keys.length, 1 + previous.length)
    const res = await h.app.inject({ url: '/.well-known/jwks.json' })
    t.equal(res.statusCode, 200)
    for (const key of res.json().keys as Array<Record<string, unknown>>) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) t.notOk(member in key, `${alg}: no private member ${member}`)
      t.equal(key.use, 'sig')
      t.ok(typeof key.kid === 'string' && (key.kid as string).length > 0)
    }
    t.same(res.json(), JSON.parse(JSON.stringify(h.app.authx.jwks())))
    await h.close()
  }
})
