/**
 * Attack class 9: cookies and CSRF.
 * Sources: OWASP CSRF Prevention cheat sheet ("Double Submit Cookie", "naive double submit" and cookie
 * tossing; "Use of Custom Request Headers"), OWASP JWT cheat sheet ("Token sidejacking", "Token storage on
 * client side"); RFC 6265bis §4.1.2.5-7 (Secure, HttpOnly, SameSite), §8.8 (SameSite and CSRF); RFC 9110
 * §9.2.1 (safe methods); CWE-352; flask-jwt-extended's double-submit CSRF (constant-time compare).
 */
import t from 'tap'
import type { AuthxOptions } from '../../lib/index'
import { LOCATIONS, SECRET, body, carry, claims, expectAccepted, expectRefused, harness, hs } from './helpers'

const CSRF_MISSING = 'FST_AUTHX_CSRF_MISSING'
const CSRF_MISMATCH = 'FST_AUTHX_CSRF_MISMATCH'
const UNSAFE = ['POST', 'PUT', 'PATCH', 'DELETE'] as const

const cookieReq = (method: string, url: string, cookie: string, headers: Record<string, string | string[]> = {}) =>
  ({ method: method as any, url, headers: { cookie, ...headers } })

t.test('CSRF on POST / PUT / PATCH / DELETE with a cookie token: missing, mismatched, foreign values (OWASP double submit)', async t => {
  const h = await harness({ secret: SECRET, tokenLocation: ['cookies'] })
  const pair = h.app.createTokenPair('u')
  const csrf = h.app.authx.getCsrfToken(pair.access_token) as string
  const refreshCsrf = h.app.authx.getCsrfToken(pair.refresh_token) as string
  const other = h.app.authx.getCsrfToken(h.app.createAccessToken('u')) as string
  t.ok(csrf.length >= 32 && csrf !== refreshCsrf && csrf !== other, 'every token has its own CSRF value')
  const cookie = `access_token_cookie=${pair.access_token}; csrf_access_token=${csrf}`
  for (const method of UNSAFE) {
    await expectAccepted(t, h, cookieReq(method, '/access', cookie, { 'x-csrf-token': csrf }), `${method} with the right CSRF header`)
    const cases: Array<[string, Record<string, string | string[]>, string]> = [
      ['no header', {}, CSRF_MISSING],
      ['empty header', { 'x-csrf-token': '' }, CSRF_MISSING],
      ['wrong value', { 'x-csrf-token': 'attacker-guess' }, CSRF_MISMATCH],
      ['the refresh token\'s value', { 'x-csrf-token': refreshCsrf }, CSRF_MISMATCH],
      ['another access token\'s value', { 'x-csrf-token': other }, CSRF_MISMATCH],
      ['upper-cased value', { 'x-csrf-token': csrf.toUpperCase() }, CSRF_MISMATCH],
      ['value with a suffix', { 'x-csrf-token': csrf + 'x' }, CSRF_MISMATCH],
      ['a prefix of the value', { 'x-csrf-token': csrf.slice(0, -1) }, CSRF_MISMATCH],
      ['value, value (two lines)', { 'x-csrf-token': [csrf, csrf] }, CSRF_MISMATCH],
      ['the value under another header', { 'x-xsrf-token': csrf }, CSRF_MISSING],
      ['method override to GET', { 'x-http-method-override': 'GET' }, CSRF_MISSING]
    ]
    for (const [what, headers, code] of cases) {
      await expectRefused(t, h, cookieReq(method, '/access', cookie, headers), [pair.access_token, csrf], { code, label: `${method} ${what}` })
    }
    // CSRF in the query string or JSON body does not count without checkForm
    await expectRefused(t, h, cookieReq(method, `/access?csrf_token=${csrf}`, cookie), [pair.access_token, csrf], { code: CSRF_MISSING, label: `${method} CSRF in the query` })
    await expectRefused(t, h, { ...cookieReq(method, '/access', cookie, { 'content-type': 'application/json' }), payload: JSON.stringify({ csrf_token: csrf }) },
      [pair.access_token, csrf], { code: CSRF_MISSING, label: `${method} CSRF in the body without checkForm` })
  }
  await h.close()
})

t.test('cookie tossing: an attacker-chosen CSRF cookie echoed in the header does not pass (OWASP "naive double submit")', async t => {
  const h = await harness({ secret: SECRET, tokenLocation: ['cookies'] })
  const token = h.app.createAccessToken('victim')
  for (const method of UNSAFE) {
    await expectRefused(t, h, cookieReq(method, '/access', `access_token_cookie=${token}; csrf_access_token=attacker`, { 'x-csrf-token': 'attacker' }), [token], { code: CSRF_MISMATCH, label: `${method} tossed CSRF cookie` })
    await expectRefused(t, h, cookieReq(method, '/access', `csrf_access_token=attacker; access_token_cookie=${token}; csrf_access_token=attacker2`, { 'x-csrf-token': 'attacker' }), [token], { code: CSRF_MISMATCH, label: `${method} two tossed CSRF cookies` })
  }
  await h.close()
})

t.test('a cookie token without a csrf claim cannot pass CSRF; header tokens need no CSRF', async t => {
  const h = await harness()
  const noClaim = hs(claims({ csrf: undefined }))
  for (const method of UNSAFE) {
    for (const guess of ['undefined', 'null', '', 'x']) {
      await expectRefused(t, h, cookieReq(method, '/access', `access_token_cookie=${noClaim}`, { 'x-csrf-token': guess }), [noClaim], { code: [CSRF_MISMATCH, CSRF_MISSING], label: `${method} no csrf claim, header ${JSON.stringify(guess)}` })
    }
    for (const bad of [7, true, {}, ['x']]) {
      const token = hs(claims({ csrf: bad }))
      await expectRefused(t, h, cookieReq(method, '/access', `access_token_cookie=${token}`, { 'x-csrf-token': String(bad) }), [token], { code: 'FST_AUTHX_INVALID_TOKEN', label: `${method} csrf claim ${JSON.stringify(bad)}` })
    }
    // the same token in the Authorization header: not a browser-attached credential, no CSRF check
    await expectAccepted(t, h, { method: method as any, url: '/access', headers: { authorization: `Bearer ${noClaim}` } }, `${method} via header`)
  }
  await h.close()
})

t.test('safe methods need no CSRF; OPTIONS is exempt and authenticates nobody (RFC 9110 §9.2.1)', async t => {
  const seen: unknown[] = []
  const h = await harness({ secret: SECRET, tokenLocation: ['cookies'] }, {
    setup (app) {
      app.route({ method: ['GET', 'OPTIONS'], url: '/preflight', onRequest: app.requireAccess, handler: async request => { seen.push(request.tokenPayload); return { payload: request.tokenPayload } } })
    }
  })
  const token = h.app.createAccessToken('u')
  await expectAccepted(t, h, cookieReq('GET', '/access', `access_token_cookie=${token}`), 'GET')
  const head = await h.app.inject(cookieReq('HEAD', '/access', `access_token_cookie=${token}`))
  t.equal(head.statusCode, 200, 'HEAD')
  // HEAD is guarded like GET (Fastify's exposed HEAD route keeps the route's hooks)
  const calls = h.handler.calls
  const anonymousHead = await h.app.inject({ method: 'HEAD', url: '/access' })
  t.equal(anonymousHead.statusCode, 401, 'HEAD without a token is refused')
  t.equal(h.handler.calls, calls, 'and the handler did not run')
  const options = await h.app.inject(cookieReq('OPTIONS', '/preflight', `access_token_cookie=${token}`))
  t.equal(options.statusCode, 204, 'an exempt OPTIONS request is answered by the guard')
  t.equal(options.body, '', 'with nothing in it')
  const forged = hs(claims(), undefined, 'wrong-secret-wrong-secret-wrong-secret!')
  const optionsForged = await h.app.inject(cookieReq('OPTIONS', '/preflight', `access_token_cookie=${forged}`))
  t.equal(optionsForged.statusCode, 204, 'a forged cookie changes nothing')
  t.strictSame(seen, [], 'the handler never ran: an exempt request authenticates nobody and reaches nothing')
  await h.close()
})

t.test('refresh CSRF: its own value and header; the access value does not pass', async t => {
  for (const [name, options] of [
    ['shared header name', { secret: SECRET, tokenLocation: ['cookies'] }],
    ['distinct refresh header', { secret: SECRET, tokenLocation: ['cookies'], csrf: { refreshHeader: 'X-CSRF-REFRESH' } }]
  ] as Array<[string, AuthxOptions]>) {
    const h = await harness(options)
    const pair = h.app.createTokenPair('u')
    const access = h.app.authx.getCsrfToken(pair.access_token) as string
    const refresh = h.app.authx.getCsrfToken(pair.refresh_token) as string
    const header = options.csrf?.refreshHeader?.toLowerCase() ?? 'x-csrf-token'
    const cookie = `refresh_token_cookie=${pair.refresh_token}; csrf_refresh_token=${refresh}; access_token_cookie=${pair.access_token}; csrf_access_token=${access}`
    await expectAccepted(t, h, cookieReq('POST', '/refresh', cookie, { [header]: refresh }), `${name}: the refresh value`)
    await expectRefused(t, h, cookieReq('POST', '/refresh', cookie, { [header]: access }), [pair.refresh_token, refresh], { code: CSRF_MISMATCH, label: `${name}: the access value on the refresh route` })
    await expectRefused(t, h, cookieReq('POST', '/refresh', cookie), [pair.refresh_token], { code: CSRF_MISSING, label: `${name}: none` })
    if (header !== 'x-csrf-token') {
      await expectRefused(t, h, cookieReq('POST', '/refresh', cookie, { 'x-csrf-token': refresh }), [pair.refresh_token], { code: CSRF_MISSING, label: `${name}: the value under the access header name` })
    }
    await expectRefused(t, h, cookieReq('POST', '/access', cookie, { [header]: refresh, 'x-csrf-token': refresh }), [pair.access_token], { code: CSRF_MISMATCH, label: `${name}: the refresh value on an access route` })
    await h.close()
  }
})

t.test('the CSRF form field (checkForm) and its absence', async t => {
  const formParser = (app: any) => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req: unknown, text: string, done: (e: Error | null, v?: unknown) => void) => {
      const out: Record<string, string | string[]> = {}
      for (const [k, v] of new URLSearchParams(text)) out[k] = k in out ? ([] as string[]).concat(out[k], v) : v
      done(null, out)
    })
  }
  const form = (cookie: string, text: string, extra: Record<string, string> = {}) =>
    ({ method: 'POST' as const, url: '/access', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', ...extra }, payload: text })

  const h = await harness({ secret: SECRET, tokenLocation: ['cookies'], csrf: { checkForm: true } }, { setup: formParser })
  const token = h.app.createAccessToken('u')
  const csrf = h.app.authx.getCsrfToken(token) as string
  const cookie = `access_token_cookie=${token}`
  await expectAccepted(t, h, form(cookie, `csrf_token=${csrf}`), 'the right form field')
  await expectRefused(t, h, form(cookie, 'csrf_token=attacker'), [token], { code: CSRF_MISMATCH, label: 'a wrong form field' })
  await expectRefused(t, h, form(cookie, `csrf_token=${csrf}&csrf_token=${csrf}`), [token], { code: CSRF_MISMATCH, label: 'a repeated form field' })
  await expectRefused(t, h, form(cookie, 'other=1'), [token], { code: CSRF_MISSING, label: 'no form field' })
  await expectRefused(t, h, form(cookie, `csrf_token=${csrf}`, { 'x-csrf-token': 'attacker' }), [token], { code: CSRF_MISMATCH, label: 'a wrong header beats a right field' })
  await expectRefused(t, h, { method: 'POST', url: '/access', headers: { cookie, 'content-type': 'application/json' }, payload: JSON.stringify({ csrf_token: 12345 }) }, [token], { code: CSRF_MISMATCH, label: 'a JSON number field' })
  // (a `__proto__` member in a JSON body never reaches the guard: Fastify's onProtoPoisoning refuses it with 400)
  const proto = await h.app.inject({ method: 'POST', url: '/access', headers: { cookie, 'content-type': 'application/json' }, payload: `{"__proto__":{"csrf_token":"${csrf}"}}` })
  t.equal(proto.statusCode, 400, 'a __proto__ CSRF field is refused')
  await h.close()

  const off = await harness({ secret: SECRET, tokenLocation: ['cookies'] }, { setup: formParser })
  const token2 = off.app.createAccessToken('u')
  await expectRefused(t, off, form(`access_token_cookie=${token2}`, `csrf_token=${off.app.authx.getCsrfToken(token2)}`), [token2], { code: CSRF_MISSING, label: 'form field without checkForm' })
  await off.close()
})

t.test('csrf: false on a guard, and protect: false, are explicit opt-outs', async t => {
  const h = await harness({ secret: SECRET, tokenLocation: ['cookies'] }, {
    setup (app, hit) { app.post('/no-csrf', { preValidation: app.authx.guard({ csrf: false }) }, async () => { hit(); return {} }) }
  })
  const token = h.app.createAccessToken('u')
  await expectAccepted(t, h, cookieReq('POST', '/no-csrf', `access_token_cookie=${token}`), 'guard csrf: false')
  await expectRefused(t, h, cookieReq('POST', '/access', `access_token_cookie=${token}`), [token], { code: CSRF_MISSING, label: 'other routes still check' })
  await h.close()
  const off = await harness({ secret: SECRET, tokenLocation: ['cookies'], csrf: { protect: false } })
  const plain = off.app.createAccessToken('u')
  t.equal(off.app.authx.verifyToken(plain).csrf, undefined, 'no csrf claim is issued')
  await expectAccepted(t, off, cookieReq('POST', '/access', `access_token_cookie=${plain}`), 'protect: false')
  t.ok(off.logs.some(l => /CSRF protection is off/.test(l)), 'and the app was warned at startup')
  await off.close()
})

t.test('cookie attributes are secure by default, the CSRF cookie is readable, no-store (RFC 6265bis §4.1.2, OWASP)', async t => {
  const h = await harness({ secret: SECRET, tokenLocation: ['cookies'] }, {
    setup (app) {
      app.post('/login', async (_request, reply) => {
        const pair = app.createTokenPair('u')
        reply.setAccessCookies(pair.access_token).setRefreshCookies(pair.refresh_token)
        return { ok: true }
      })
      app.post('/logout', async (_request, reply) => { reply.unsetCookies(); return { ok: true } })
    }
  })
  const res = await h.app.inject({ method: 'POST', url: '/login' })
  const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? [])
  const byName = (name: string) => cookies.find(c => c.startsWith(name + '=')) ?? ''
  for (const name of ['access_token_cookie', 'refresh_token_cookie']) {
    const c = byName(name)
    t.match(c, /; HttpOnly/i, `${name} is HttpOnly`)
    t.match(c, /; Secure/i, `${name} is Secure`)
    t.match(c, /; SameSite=Lax/i, `${name} is SameSite=Lax`)
    t.match(c, /; Path=\//, `${name} has a path`)
    t.notMatch(c, /Domain=/i, `${name} has no Domain (host-only)`)
  }
  for (const name of ['csrf_access_token', 'csrf_refresh_token']) {
    const c = byName(name)
    t.ok(c.length > 0, `${name} is set`)
    t.notMatch(c, /HttpOnly/i, `${name} is readable by the page`)
    t.match(c, /; Secure/i, `${name} is Secure`)
    t.match(c, /; SameSite=Lax/i, `${name} is SameSite=Lax`)
  }
  const access = /^access_token_cookie=([^;]+)/.exec(byName('access_token_cookie'))?.[1] as string
  t.equal(/^csrf_access_token=([^;]+)/.exec(byName('csrf_access_token'))?.[1], h.app.authx.getCsrfToken(access), 'the CSRF cookie holds the token\'s csrf claim')
  t.equal(res.headers['cache-control'], 'no-store', 'responses that set token cookies are not cached')

  const out = await h.app.inject({ method: 'POST', url: '/logout' })
  const cleared = ([] as string[]).concat(out.headers['set-cookie'] ?? [])
  for (const name of ['access_token_cookie', 'refresh_token_cookie', 'csrf_access_token', 'csrf_refresh_token']) {
    const c = cleared.find(x => x.startsWith(name + '=')) ?? ''
    t.match(c, /Expires=Thu, 01 Jan 1970|Max-Age=0/i, `${name} is cleared`)
    t.match(c, /; Secure/i, `${name} is cleared with the same Secure attribute`)
  }
  t.equal(out.headers['cache-control'], 'no-store')
  await h.close()
})

t.test('two access cookies: the forged one never authenticates, whichever comes first', async t => {
  const h = await harness({ secret: SECRET, tokenLocation: ['cookies'] })
  const valid = h.app.createAccessToken('victim')
  const forged = hs(claims({ sub: 'mallory' }), undefined, 'wrong-secret-wrong-secret-wrong-secret!')
  for (const cookie of [`access_token_cookie=${forged}; access_token_cookie=${valid}`, `access_token_cookie=${valid}; access_token_cookie=${forged}`]) {
    const res = await h.app.inject(cookieReq('GET', '/access', cookie))
    if (res.statusCode === 200) t.equal(body(res).sub, 'victim', 'accepted only as the valid token')
    else t.equal(body(res).code, 'FST_AUTHX_INVALID_TOKEN', 'or refused')
    t.notOk(res.body.includes('mallory'))
  }
  await h.close()
})

t.test('every location but cookies ignores CSRF, and a cookie token needs it in a mixed app', async t => {
  const h = await harness()
  const token = h.app.createAccessToken('u')
  for (const location of LOCATIONS) {
    const r = carry(location, token)
    const request = { ...r, method: 'POST' as const }
    if (location === 'cookies') await expectRefused(t, h, request, [token], { code: CSRF_MISSING })
    else if (location === 'json') await expectAccepted(t, h, request)
    else await expectAccepted(t, h, request, `POST via ${location}`)
  }
  await h.close()
})
