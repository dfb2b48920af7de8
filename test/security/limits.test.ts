/**
 * Attack class 14: size limits and slow dependencies.
 * Sources: README "Options" (maxTokenLength: "longer tokens are refused before any decoding"; storeTimeout:
 * "past it the request fails closed (503)"); RFC 8725 §3.x / RFC 7515 §10 (denial of service through large inputs), RFC 9110 §5.4 and
 * RFC 6585 §5 (431 Request Header Fields Too Large); CWE-400 / CWE-770 (uncontrolled resource use), CWE-1333
 * (ReDoS, cf. GHSA-cjw9-ghj4-fwxf in fast-jwt); OWASP Denial of Service cheat sheet.
 */
import { connect, type AddressInfo } from 'node:net'
import t from 'tap'
import { MemoryStore } from '../../lib/index'
import { LOCATIONS, SECRET, body, carry, claims, expectAccepted, expectRefused, harness, hs } from './helpers'
import { never, storeWith } from '../helpers/stores'

const INVALID = 'FST_AUTHX_INVALID_TOKEN'
const UNAVAILABLE = 'FST_AUTHX_STORE_UNAVAILABLE'

/** A validly signed token of exactly `length` characters (padding a data claim). */
function tokenOfLength (length: number, over: Record<string, unknown> = {}): string {
  for (let sub = 1; sub < 4; sub++) {
    for (let pad = Math.max(0, Math.floor(length * 0.74) - 400); pad < length; pad++) {
      const token = hs(claims({ sub: 'u'.repeat(sub), pad: 'x'.repeat(pad), ...over }))
      if (token.length === length) return token
      if (token.length > length) break
    }
  }
  throw new Error(`no token of length ${length}`)
}

t.test('maxTokenLength: the limit itself passes, one more character is refused before verification (README "Guarding routes", checks in order)', async t => {
  const h = await harness()
  const exact = tokenOfLength(8192)
  const over = tokenOfLength(8193)
  t.equal(exact.length, 8192)
  for (const location of LOCATIONS) {
    await expectAccepted(t, h, carry(location, exact), `8192 chars via ${location}`)
    // a validly signed token: only its length can refuse it
    await expectRefused(t, h, carry(location, over), [over], { code: INVALID, label: `8193 chars, validly signed, via ${location}` })
  }
  await h.close()

  const big = await harness({ secret: SECRET, maxTokenLength: 100_000 }, { fastify: { bodyLimit: 2 * 1024 * 1024 } })
  const fifty = tokenOfLength(50_000)
  for (const location of LOCATIONS) await expectAccepted(t, big, carry(location, fifty), `50 000 chars under a 100 000 limit via ${location}`)
  const tooBig = tokenOfLength(100_001)
  for (const location of LOCATIONS) await expectRefused(t, big, carry(location, tooBig), [tooBig], { code: INVALID, label: `100 001 chars via ${location}` })
  await big.close()
})

t.test('a 1 MB token is a 401 in every location, never a 5xx (CWE-400; timing reported, not asserted)', async t => {
  const h = await harness()
  const mb = hs(claims({ pad: 'x'.repeat(750_000) }))
  t.ok(mb.length > 1_000_000, `${mb.length} chars`)
  for (const location of LOCATIONS) {
    const started = process.hrtime.bigint()
    await expectRefused(t, h, carry(location, mb), [mb], { code: INVALID, label: `1 MB token via ${location}` })
    t.comment(`1 MB via ${location}: ${Number(process.hrtime.bigint() - started) / 1e6} ms`)
  }
  // garbage of the same size, and a million dots
  const garbage = 'A'.repeat(1_000_000)
  const dots = '.'.repeat(1_000_000)
  for (const location of LOCATIONS) {
    await expectRefused(t, h, carry(location, garbage), [], { code: INVALID, label: `1 MB of A via ${location}` })
    await expectRefused(t, h, carry(location, dots), [], { code: INVALID, label: `1 MB of dots via ${location}` })
  }
  await h.close()
})

t.test('pathological inputs around the token stay linear and never 5xx (CWE-1333)', async t => {
  const h = await harness()
  const token = h.app.createAccessToken('u')
  // 100 000 spaces between scheme and token: 1*SP allows it, parsing stays linear
  const spaced = await h.app.inject({ method: 'GET', url: '/access', headers: { authorization: 'Bearer' + ' '.repeat(100_000) + token } })
  t.ok(spaced.statusCode === 200 || spaced.statusCode === 400, `100 000 spaces: ${spaced.statusCode}`)
  await expectRefused(t, h, { method: 'GET', url: '/access', headers: { authorization: 'Bearer ' + 'a '.repeat(50_000) } }, [], { status: 400, code: 'FST_AUTHX_MALFORMED_HEADER', label: '50 000 tokens in one header' })
  await expectRefused(t, h, { method: 'GET', url: '/access', headers: { authorization: 'Bearer ' + ','.repeat(100_000) } }, [], { status: 400, label: '100 000 commas' })
  await expectRefused(t, h, { method: 'GET', url: '/access', headers: { authorization: 'Basic ' + 'x'.repeat(1_000_000) } }, [], { code: 'FST_AUTHX_MISSING_TOKEN', label: '1 MB Basic credentials' })
  // 10 000 cookies, the token among them
  const many = Array.from({ length: 10_000 }, (_, i) => `c${i}=v${i}`).join('; ')
  await expectAccepted(t, h, { method: 'GET', url: '/access', headers: { cookie: `${many}; access_token_cookie=${token}` } }, '10 000 cookies and the token')
  // 1 000 token parameters in the query: an array, refused
  const params = Array.from({ length: 1000 }, () => `token=${token}`).join('&')
  await expectRefused(t, h, { method: 'GET', url: `/access?${params}` }, [token], { code: INVALID, label: '1000 query tokens' })
  // a JSON body that is an array of tokens, or the token under a nested key
  await expectRefused(t, h, { method: 'POST', url: '/access', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(Array(1000).fill({ access_token: token })) }, [token], { code: 'FST_AUTHX_MISSING_TOKEN', label: 'a JSON array body' })
  await expectRefused(t, h, { method: 'POST', url: '/access', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ access_token: [token, token] }) }, [token], { code: INVALID, label: 'a JSON array value' })
  await expectRefused(t, h, { method: 'POST', url: '/access', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ access_token: { $ne: null } }) }, [], { code: INVALID, label: 'a JSON object value (operator injection)' })
  await h.close()
})

function raw (port: number, text: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let data = ''
    socket.on('data', c => { data += c.toString('latin1') })
    socket.on('error', err => (data === '' ? reject(err) : resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0))))
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)))
    socket.end(text, 'latin1')
  })
}

t.test('very long headers over the network: refused by the HTTP parser (431), the server stays up (RFC 6585 §5)', async t => {
  const h = await harness()
  await h.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = h.app.server.address() as AddressInfo
  const token = h.app.createAccessToken('u')
  const mb = hs(claims({ pad: 'x'.repeat(750_000) }))
  const before = h.handler.calls
  for (const [what, header] of [
    ['1 MB Authorization', `Authorization: Bearer ${mb}`],
    ['1 MB Cookie', `Cookie: access_token_cookie=${mb}`],
    ['64 KB of other headers', Array.from({ length: 1000 }, (_, i) => `X-H${i}: ${'v'.repeat(64)}`).join('\r\n')]
  ]) {
    const status = await raw(port, `GET /access HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${header}\r\n\r\n`)
    t.ok(status >= 400 && status < 500, `${what}: ${status}`)
  }
  t.equal(h.handler.calls, before, 'the handler never ran')
  const ok = await raw(port, `GET /access HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${token}\r\n\r\n`)
  t.equal(ok, 200, 'the server still answers')
  await h.close()
})

/** Every call the guards and the API make hangs. */
const hangingStore = () => storeWith('HangingStore', ['status', 'redeem', 'recordFamily', 'revokeToken', 'revokeFamily', 'revokeAllSessions', 'saveSession', 'listSessions', 'familySubject'], never)

t.test('a store that hangs: 503 within storeTimeout, for guards, rotation and the API (README "Revocation, rotation and sessions", Fail closed)', async t => {
  const h = await harness({ secret: SECRET, store: hangingStore(), storeTimeout: 50, rotation: true }, {
    setup (app, hit) { app.post('/rotate', { preValidation: app.authx.guard({ type: 'refresh', checkRevoked: false }) }, async request => { hit(); return await app.authx.rotateRefreshToken(request.tokenPayload) }) }
  })
  const pair = h.app.createTokenPair('u')
  for (const location of LOCATIONS) {
    await expectRefused(t, h, carry(location, pair.access_token), [pair.access_token], { status: 503, code: UNAVAILABLE, storeCause: [], label: `access via ${location}` })
    await expectRefused(t, h, carry(location, pair.refresh_token, 'refresh'), [pair.refresh_token], { status: 503, code: UNAVAILABLE, storeCause: [], label: `refresh via ${location}` })
  }
  // rotation's atomic redeem hangs: 503, no new pair
  const res = await h.app.inject({ method: 'POST', url: '/rotate', headers: { authorization: `Bearer ${pair.refresh_token}` } })
  t.equal(res.statusCode, 503)
  t.equal(body(res).code, UNAVAILABLE)
  // the API calls reject with the same error instead of hanging
  await t.rejects(h.app.authx.revokeToken(pair.access_token), { code: UNAVAILABLE })
  await t.rejects(h.app.authx.revokeFamily('some-family'), { code: UNAVAILABLE })
  await t.rejects(h.app.authx.revokeAllSessions('u'), { code: UNAVAILABLE })
  await t.rejects(h.app.authx.createSession('u'), { code: UNAVAILABLE })
  await t.rejects(h.app.authx.listSessions('u'), { code: UNAVAILABLE })
  // 50 concurrent requests against the hanging store: all 503
  const all = await Promise.all(Array.from({ length: 50 }, () => h.app.inject(carry('headers', pair.access_token))))
  t.same([...new Set(all.map(r => r.statusCode))], [503], '50 concurrent: all 503')
  await h.close()
})

t.test('isRevoked that hangs: 503 (README "Options": storeTimeout bounds isRevoked)', async t => {
  const h = await harness({ secret: SECRET, isRevoked: () => new Promise<boolean>(() => {}), storeTimeout: 50 })
  const token = h.app.createAccessToken('u')
  for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token), [token], { status: 503, code: UNAVAILABLE, storeCause: [], label: `isRevoked hangs, via ${location}` })
  await h.close()
})

t.test('a slow store within storeTimeout is fine; a slower one is refused', async t => {
  class Slow extends MemoryStore {
    constructor (private readonly ms: number) { super() }
    override async status (ref: any): Promise<any> { await new Promise(resolve => setTimeout(resolve, this.ms)); return await super.status(ref) }
  }
  const fast = await harness({ secret: SECRET, store: new Slow(5), storeTimeout: 500 })
  await expectAccepted(t, fast, carry('headers', fast.app.createAccessToken('u')), '5 ms store, 500 ms timeout')
  await fast.close()
  const slow = await harness({ secret: SECRET, store: new Slow(300), storeTimeout: 30 })
  const token = slow.app.createAccessToken('u')
  await expectRefused(t, slow, carry('headers', token), [token], { status: 503, code: UNAVAILABLE, storeCause: [], label: '300 ms store, 30 ms timeout' })
  await new Promise(resolve => setTimeout(resolve, 320)) // let the late answer arrive: it must not reach anything
  await slow.close()
})
