import t from 'tap'
import { SECRET, build, payloadOf, tamperSignature } from './helpers/app'

const options = { secret: SECRET, tokenLocation: ['cookies', 'headers'] as Array<'cookies' | 'headers'> }

t.test('the CSRF matrix', async t => {
  const app = await build(options, app => {
    app.post('/no-csrf', { onRequest: app.authx.guard({ csrf: false }) }, async () => 'ok')
    app.put('/put', { onRequest: app.requireAccess }, async () => 'ok')
    app.delete('/delete', { onRequest: app.requireAccess }, async () => 'ok')
    app.patch('/patch', { onRequest: app.requireAccess }, async () => 'ok')
  })
  const access = app.createAccessToken('a')
  const refresh = app.createRefreshToken('a')
  const jar = { cookie: `access_token_cookie=${access}; refresh_token_cookie=${refresh}` }
  const send = async (method: string, url: string, headers: Record<string, string> = {}) =>
    await app.inject({ method: method as any, url, headers: { ...jar, ...headers } })

  t.equal((await send('GET', '/access')).statusCode, 200, 'safe method: no CSRF needed')
  let res = await send('POST', '/access')
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'FST_AUTHX_CSRF_MISSING')
  t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token", error_description="The CSRF token is missing"')
  res = await send('POST', '/access', { 'x-csrf-token': 'wrong' })
  t.equal(res.json().code, 'FST_AUTHX_CSRF_MISMATCH')
  t.equal((await send('POST', '/access', { 'x-csrf-token': payloadOf(access).csrf })).statusCode, 200, 'matching header')
  t.equal((await send('POST', '/access', { 'x-csrf-token': payloadOf(refresh).csrf })).json().code, 'FST_AUTHX_CSRF_MISMATCH', 'the refresh value does not open access routes')
  for (const [method, url] of [['PUT', '/put'], ['PATCH', '/patch'], ['DELETE', '/delete']]) {
    t.equal((await send(method, url)).json().code, 'FST_AUTHX_CSRF_MISSING', `${method} is a CSRF method`)
    t.equal((await send(method, url, { 'x-csrf-token': payloadOf(access).csrf })).statusCode, 200)
  }
  t.equal((await send('POST', '/refresh')).json().code, 'FST_AUTHX_CSRF_MISSING', 'refresh routes need the refresh CSRF value')
  t.equal((await send('POST', '/refresh', { 'x-csrf-token': payloadOf(access).csrf })).json().code, 'FST_AUTHX_CSRF_MISMATCH')
  t.equal((await send('POST', '/refresh', { 'x-csrf-token': payloadOf(refresh).csrf })).statusCode, 200)
  t.equal((await send('POST', '/no-csrf')).statusCode, 200, 'guard({ csrf: false }) skips the check entirely (no header needed)')
  const header = await app.inject({ method: 'POST', url: '/access', headers: { authorization: `Bearer ${access}` } })
  t.equal(header.statusCode, 200, 'header tokens need no CSRF value')
  await app.close()
})

t.test('custom methods, headers and the form field', async t => {
  const app = await build({ ...options, csrf: { methods: ['post'], accessHeader: 'X-XSRF', refreshHeader: 'X-XSRF-REFRESH', checkForm: true, accessField: '_csrf', refreshField: '_csrf_r' } }, app => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    })
    app.post('/form', { preHandler: app.requireAccess }, async () => 'ok')
    app.post('/form-refresh', { preHandler: app.requireRefresh }, async () => 'ok')
    app.put('/put', { onRequest: app.requireAccess }, async () => 'ok')
  })
  const access = app.createAccessToken('a')
  const refresh = app.createRefreshToken('a')
  const jar = { cookie: `access_token_cookie=${access}; refresh_token_cookie=${refresh}` }
  t.equal((await app.inject({ method: 'PUT', url: '/put', headers: jar })).statusCode, 200, 'PUT is not a CSRF method here')
  t.equal((await app.inject({ method: 'POST', url: '/access', headers: { ...jar, 'x-xsrf': payloadOf(access).csrf } })).statusCode, 200, 'custom access header')
  t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: { ...jar, 'x-xsrf-refresh': payloadOf(refresh).csrf } })).statusCode, 200, 'custom refresh header')
  const form = (body: string, url = '/form') => app.inject({ method: 'POST', url, payload: body, headers: { ...jar, 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal((await form(`_csrf=${payloadOf(access).csrf}`)).statusCode, 200, 'form field')
  t.equal((await form('_csrf=nope')).json().code, 'FST_AUTHX_CSRF_MISMATCH')
  t.equal((await form('other=1')).json().code, 'FST_AUTHX_CSRF_MISSING')
  t.equal((await form(`_csrf_r=${payloadOf(refresh).csrf}`, '/form-refresh')).statusCode, 200, 'refresh form field')
  await app.close()

  const noForm = await build(options, app => {
    app.post('/form', { preHandler: app.requireAccess }, async () => 'ok')
  })
  const token = noForm.createAccessToken('a')
  const res = await noForm.inject({ method: 'POST', url: '/form', payload: { csrf_token: payloadOf(token).csrf }, headers: { cookie: `access_token_cookie=${token}` } })
  t.equal(res.json().code, 'FST_AUTHX_CSRF_MISSING', 'the form field is ignored unless checkForm')
  await noForm.close()
})

t.test('CSRF off: cookie tokens pass unchecked (with a startup warning, tested in options)', async t => {
  const app = await build({ ...options, csrf: { protect: false } })
  const token = app.createAccessToken('a')
  t.notOk('csrf' in payloadOf(token), 'no csrf claim')
  t.equal((await app.inject({ method: 'POST', url: '/access', headers: { cookie: `access_token_cookie=${token}` } })).statusCode, 200)
  await app.close()
})

t.test('a cookie token without a csrf claim cannot pass a CSRF method', async t => {
  const headerOnly = await build({ secret: SECRET })
  const token = headerOnly.createAccessToken('a')
  const app = await build(options)
  const res = await app.inject({ method: 'POST', url: '/access', headers: { cookie: `access_token_cookie=${token}`, 'x-csrf-token': 'undefined' } })
  t.equal(res.json().code, 'FST_AUTHX_CSRF_MISMATCH')
  await app.close(); await headerOnly.close()
})

t.test('getCsrfToken verifies the token and returns its claim', async t => {
  const app = await build(options)
  const token = app.createAccessToken('a')
  t.equal(app.authx.getCsrfToken(token), payloadOf(token).csrf)
  t.throws(() => app.authx.getCsrfToken(tamperSignature(token)), { code: 'FST_AUTHX_INVALID_TOKEN' })
  await app.close()
})
