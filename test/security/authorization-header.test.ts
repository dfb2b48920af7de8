/**
 * Attack class 8: parsing the Authorization header.
 * Sources: RFC 9110 §11.6.2 (Authorization: one credentials value; a singleton field, §5.3), §11.1
 * (auth-scheme is case-insensitive), §11.4 (credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]),
 * §5.5 (field values, OWS), §5.2 / RFC 9112 §5.2 (obs-fold is rejected); RFC 6750 §2.1 ("Bearer" 1*SP
 * b64token), §3.1 (invalid_request → 400); HTTP request smuggling of duplicate credentials (CWE-444).
 */
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { SECRET, body, claims, expectAccepted, expectRefused, found, harness, hs, type Harness } from './helpers'

const MALFORMED = 'FST_AUTHX_MALFORMED_HEADER'
const MISSING = 'FST_AUTHX_MISSING_TOKEN'
const INVALID = 'FST_AUTHX_INVALID_TOKEN'

const auth = (value: string, url = '/access') => ({ method: 'GET' as const, url, headers: { authorization: value } })

t.test('scheme casing and spaces that are valid (RFC 9110 §11.1, RFC 6750 §2.1 "1*SP")', async t => {
  const h = await harness({ secret: SECRET, tokenLocation: ['headers'] })
  const token = h.app.createAccessToken('u')
  for (const value of [`Bearer ${token}`, `bearer ${token}`, `BEARER ${token}`, `bEaReR ${token}`, `Bearer  ${token}`, `Bearer     ${token}`, `Bearer ${token} `, `Bearer ${token}\t`]) {
    await expectAccepted(t, h, auth(value), JSON.stringify(value.replace(token, 'T')))
  }
  await h.close()
})

t.test('malformed Bearer credentials are 400 invalid_request (RFC 6750 §3.1)', async t => {
  const h = await harness({ secret: SECRET, tokenLocation: ['headers'] })
  const token = h.app.createAccessToken('u')
  const other = h.app.createAccessToken('v')
  const values = ['Bearer', 'Bearer ', 'Bearer    ', `Bearer ${token} ${other}`, `Bearer ${token},${other}`, `Bearer ${token}, ${other}`,
    `Bearer ${token} ,`, `Bearer ${token},`, `Bearer ,${token}`, `Bearer ${token}\t${other}`, `Bearer ${token} Bearer ${other}`,
    `Bearer ${token}, Bearer ${other}`, `Bearer ${token}, Basic dTpw`, `Bearer ${token} x`, `Bearer a b c`]
  for (const value of values) {
    const res = await expectRefused(t, h, auth(value), [token, other], { status: 400, code: MALFORMED, label: JSON.stringify(value.replaceAll(token, 'T').replaceAll(other, 'O')) })
    t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_request"')
  }
  await h.close()
})

t.test('not our scheme: the lookup goes on, and with nothing else the token is missing (RFC 9110 §11.4)', async t => {
  const h = await harness({ secret: SECRET, tokenLocation: ['headers'] })
  const token = h.app.createAccessToken('u')
  const values = [`Basic ${Buffer.from('u:p').toString('base64')}`, `Digest username="u", response="${token}"`, `Token ${token}`, `JWT ${token}`, `MAC ${token}`,
    `Bearer:${token}`, `Bearer: ${token}`, `Bearer=${token}`, `Bearer-${token}`, `Bearer\t${token}`, `Bearer\u00a0${token}`, `Bearer${token}`, token,
    ` Bearer ${token}`, `Bearers ${token}`, `Bear ${token}`, `Basic x, Bearer ${token}`, `"Bearer" ${token}`, `Bearer\u000b${token}`]
  for (const value of values) {
    await expectRefused(t, h, auth(value), [token], { code: MISSING, label: JSON.stringify(value.replace(token, 'T').slice(0, 40)) })
  }
  await expectRefused(t, h, { method: 'GET', url: '/access', headers: { 'x-authorization': `Bearer ${token}` } }, [token], { code: MISSING, label: 'another header name' })
  await expectRefused(t, h, { method: 'GET', url: '/access', headers: { 'proxy-authorization': `Bearer ${token}` } }, [token], { code: MISSING, label: 'Proxy-Authorization' })
  await h.close()
})

t.test('non-Bearer schemes fall through to the next location; an invalid Bearer token does not', async t => {
  const h = await harness()
  const alice = h.app.createAccessToken('alice')
  const bob = h.app.createAccessToken('bob')
  const forged = hs(claims({ sub: 'mallory' }), undefined, 'not-the-secret-not-the-secret-not-the-secret')
  // Basic + a valid cookie: the cookie authenticates
  let res = await expectAccepted(t, h, { method: 'GET', url: '/access', headers: { authorization: 'Basic dTpw', cookie: `access_token_cookie=${alice}` } }, 'Basic then cookie')
  t.equal(body(res).sub, 'alice')
  t.equal(body(res).location, 'cookies')
  // a valid header wins over a forged cookie
  res = await expectAccepted(t, h, { method: 'GET', url: '/access', headers: { authorization: `Bearer ${bob}`, cookie: `access_token_cookie=${forged}` } }, 'header first')
  t.equal(body(res).sub, 'bob')
  // a forged header token does not fall through to a valid cookie, query or body
  await expectRefused(t, h, { method: 'GET', url: `/access?token=${alice}`, headers: { authorization: `Bearer ${forged}`, cookie: `access_token_cookie=${alice}` } }, [forged], { code: INVALID, label: 'forged header, valid cookie and query' })
  await expectRefused(t, h, { method: 'POST', url: '/access', headers: { authorization: `Bearer ${forged}`, 'content-type': 'application/json' }, payload: { access_token: alice } }, [forged], { code: INVALID, label: 'forged header, valid JSON' })
  // a malformed header does not fall through either
  await expectRefused(t, h, { method: 'GET', url: '/access', headers: { authorization: 'Bearer ', cookie: `access_token_cookie=${alice}` } }, [], { status: 400, code: MALFORMED, label: 'empty Bearer, valid cookie' })
  await h.close()
})

t.test('header.type "" (the whole header is the token): spaces and commas are malformed', async t => {
  const h = await harness({ secret: SECRET, tokenLocation: ['headers'], header: { name: 'X-Token', type: '' } })
  const token = h.app.createAccessToken('u')
  await expectAccepted(t, h, { method: 'GET', url: '/access', headers: { 'x-token': token } })
  await expectAccepted(t, h, { method: 'GET', url: '/access', headers: { 'x-token': `  ${token}  ` } }, 'surrounding OWS')
  for (const value of [`Bearer ${token}`, `${token} ${token}`, `${token},${token}`, `${token}\t${token}`]) {
    await expectRefused(t, h, { method: 'GET', url: '/access', headers: { 'x-token': value } }, [token], { status: 400, code: MALFORMED })
  }
  await expectRefused(t, h, { method: 'GET', url: '/access', headers: { authorization: `Bearer ${token}` } }, [token], { code: MISSING, label: 'Authorization is not the configured header' })
  await h.close()
})

interface RawResponse { status: number, head: string, body: string }

/** Sends bytes on a fresh TCP connection and reads the whole answer (the request asks to close). */
function raw (port: number, text: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', c => chunks.push(c))
    socket.on('error', reject)
    socket.on('close', () => {
      const all = Buffer.concat(chunks).toString('latin1')
      const [head, ...rest] = all.split('\r\n\r\n')
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(all)?.[1] ?? 0), head, body: rest.join('\r\n\r\n') })
    })
    socket.end(text, 'latin1')
  })
}

/** expectRefused over a real socket: refusal, no handler call, nothing leaked in the answer or the logs. */
async function refusedRaw (t: Test, h: Harness, port: number, text: string, canaries: string[], label: string, statuses = [400, 401, 403]) {
  const before = h.handler.calls
  const mark = h.logs.length
  const res = await raw(port, text)
  t.ok(statuses.includes(res.status), `${label}: refused (${res.status})`)
  t.equal(h.handler.calls, before, `${label}: the handler did not run`)
  const secrets = [...canaries, ...canaries.flatMap(c => c.split('.')).filter(s => s.length >= 12), ...h.secrets]
  t.same(found(res.head + res.body, secrets), [], `${label}: the response leaks nothing`)
  // let the log lines of this request arrive
  await new Promise(resolve => setImmediate(resolve))
  t.same(found(h.logs.slice(mark).join(''), secrets), [], `${label}: the logs leak nothing`)
  return res
}

t.test('repeated Authorization lines are refused, whatever their order or casing (RFC 9110 §5.3, §11.6.2; CWE-444)', async t => {
  const h = await harness()
  await h.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = h.app.server.address() as AddressInfo
  const alice = h.app.createAccessToken('alice')
  const bob = h.app.createAccessToken('bob')
  const forged = hs(claims(), undefined, 'not-the-secret-not-the-secret-not-the-secret')
  const req = (...lines: string[]) => `GET /access HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${lines.map(l => l + '\r\n').join('')}\r\n`

  // control over the wire: one line works, and OWS around the value is not part of it (RFC 9110 §5.5)
  let res = await raw(port, req(`Authorization: Bearer ${alice}`))
  t.equal(res.status, 200)
  res = await raw(port, req(`Authorization:    Bearer ${alice}   `))
  t.equal(res.status, 200, 'OWS around the field value is stripped')

  const pairs: Array<[string, string[]]> = [
    ['two valid tokens', [`Authorization: Bearer ${alice}`, `Authorization: Bearer ${bob}`]],
    ['the same token twice', [`Authorization: Bearer ${alice}`, `Authorization: Bearer ${alice}`]],
    ['valid, then forged', [`Authorization: Bearer ${alice}`, `Authorization: Bearer ${forged}`]],
    ['forged, then valid', [`Authorization: Bearer ${forged}`, `Authorization: Bearer ${alice}`]],
    ['Basic, then valid', ['Authorization: Basic dTpw', `Authorization: Bearer ${alice}`]],
    ['valid, then Basic', [`Authorization: Bearer ${alice}`, 'Authorization: Basic dTpw']],
    ['valid, then empty', [`Authorization: Bearer ${alice}`, 'Authorization: ']],
    ['different casings of the name', [`authorization: Bearer ${alice}`, `AUTHORIZATION: Bearer ${bob}`]],
    ['three lines', [`Authorization: Bearer ${alice}`, `Authorization: Bearer ${alice}`, `Authorization: Bearer ${alice}`]]
  ]
  for (const [what, lines] of pairs) {
    await refusedRaw(t, h, port, req(...lines), [alice, bob, forged], what)
  }
  // obs-fold (a continuation line) and control characters are refused by the HTTP parser
  await refusedRaw(t, h, port, req('Authorization: Bearer', ` ${alice}`), [alice], 'obs-fold continuation line')
  await refusedRaw(t, h, port, req(`Authorization: Bearer ${alice}\u0000`), [alice], 'NUL in the value')
  await refusedRaw(t, h, port, req(`Authorization: Bearer ${alice}\rX: y`), [alice], 'bare CR in the value')
  await refusedRaw(t, h, port, req(`Authorization : Bearer ${alice}`), [alice], 'whitespace before the colon (RFC 9112 §5.1)')

  // http.request with an array value sends two lines too
  const before = h.handler.calls
  const status = await new Promise<number>((resolve, reject) => {
    const r = httpRequest({ host: '127.0.0.1', port, path: '/access', method: 'GET' }, response => { response.resume(); resolve(response.statusCode ?? 0) })
    r.setHeader('Authorization', [`Bearer ${alice}`, `Bearer ${bob}`])
    r.on('error', reject)
    r.end()
  })
  t.equal(status, 400, 'setHeader with an array: 400')
  t.equal(h.handler.calls, before, 'the handler did not run')
  await h.close()
})

t.test('inject with an array value is refused the same way', async t => {
  const h = await harness()
  const token = h.app.createAccessToken('u')
  await expectRefused(t, h, { method: 'GET', url: '/access', headers: { authorization: [`Bearer ${token}`, `Bearer ${token}`] } as any }, [token], { status: 400, code: MALFORMED })
  await h.close()
})
