/**
 * Attack class 7: token type and freshness confusion.
 * Sources: RFC 8725 §2.8 / §3.11 (cross-JWT confusion: "explicit typing", distinct validation rules per
 * kind of JWT), §3.12 (different keys or claims per kind); OWASP JWT cheat sheet; README "Guarding routes"
 * (`type` exactly `access` or `refresh`, `fresh` requires `fresh === true`, a refresh guard reads the refresh names).
 */
import t from 'tap'
import { LOCATIONS, body, carry, claims, expectAccepted, expectRefused, harness, hs, type Location } from './helpers'

const INVALID = 'FST_AUTHX_INVALID_TOKEN'
const ACCESS_REQUIRED = 'FST_AUTHX_ACCESS_TOKEN_REQUIRED'
const REFRESH_REQUIRED = 'FST_AUTHX_REFRESH_TOKEN_REQUIRED'
const MISSING = 'FST_AUTHX_MISSING_TOKEN'

t.test('a refresh token on access and fresh routes, under either name, in every location', async t => {
  const h = await harness()
  const made = h.app.createRefreshToken('u')
  const forged = hs(claims({ type: 'refresh', fresh: true }))
  for (const token of [made, forged]) {
    for (const route of ['access', 'fresh', 'scoped'] as const) {
      for (const location of LOCATIONS) {
        // under the access names (the names an access route reads): the type check refuses it
        await expectRefused(t, h, carry(location, token, route, 'access'), [token], { code: ACCESS_REQUIRED, label: `refresh token on /${route} via ${location} (access name)` })
        // under the refresh names: an access route never reads them (headers and query have one name)
        const code = location === 'cookies' || location === 'json' ? MISSING : ACCESS_REQUIRED
        await expectRefused(t, h, carry(location, token, route, 'refresh'), [token], { code, label: `refresh token on /${route} via ${location} (refresh name)` })
      }
    }
  }
  await h.close()
})

t.test('an access token on refresh routes, under either name, in every location', async t => {
  const h = await harness()
  const made = h.app.createAccessToken('u', { fresh: true })
  const forged = hs(claims({ type: 'access' }))
  for (const token of [made, forged]) {
    for (const location of LOCATIONS) {
      await expectRefused(t, h, carry(location, token, 'refresh', 'refresh'), [token], { code: REFRESH_REQUIRED, label: `access token on /refresh via ${location} (refresh name)` })
      const code = location === 'cookies' || location === 'json' ? MISSING : REFRESH_REQUIRED
      await expectRefused(t, h, carry(location, token, 'refresh', 'access'), [token], { code, label: `access token on /refresh via ${location} (access name)` })
    }
  }
  await h.close()
})

t.test('a refresh token claiming fresh: true is not fresh (the type is checked first)', async t => {
  const h = await harness()
  const token = hs(claims({ type: 'refresh', fresh: true, scopes: ['admin'] }))
  for (const location of LOCATIONS) {
    await expectRefused(t, h, carry(location, token, 'fresh', 'access'), [token], { code: ACCESS_REQUIRED, label: `refresh+fresh on /fresh via ${location}` })
  }
  await h.close()
})

t.test('only fresh === true is fresh', async t => {
  const h = await harness()
  for (const fresh of [false, 'true', 'TRUE', 1, [true], { valueOf: true }, null, undefined]) {
    const token = hs(claims({ fresh }))
    for (const location of LOCATIONS) {
      await expectRefused(t, h, carry(location, token, 'fresh'), [token], { code: 'FST_AUTHX_FRESH_TOKEN_REQUIRED', label: `fresh ${JSON.stringify(fresh)} via ${location}` })
    }
  }
  for (const location of LOCATIONS) await expectAccepted(t, h, carry(location, hs(claims({ fresh: true })), 'fresh'))
  await h.close()
})

t.test('type missing or anything but exactly access / refresh is invalid, on every route kind', async t => {
  const h = await harness()
  const types: unknown[] = [undefined, '', 'Access', 'ACCESS', 'REFRESH', ' access', 'access ', 'access\u0000', 'refresh\n', 'id', 'bearer', 'JWT', 'at+jwt',
    'access,refresh', ['access'], ['refresh'], { type: 'access' }, null, true, 1]
  for (const type of types) {
    const token = hs(claims({ type }))
    for (const route of ['access', 'refresh', 'fresh', 'any', 'scoped'] as const) {
      for (const location of LOCATIONS) {
        await expectRefused(t, h, carry(location, token, route), [token], { code: INVALID, label: `type ${JSON.stringify(type)} on /${route} via ${location}` })
      }
    }
  }
  await h.close()
})

t.test('type: any accepts exactly the two types, and reports which one', async t => {
  const h = await harness()
  for (const location of LOCATIONS) {
    const a = await expectAccepted(t, h, carry(location, hs(claims({ type: 'access' })), 'any', 'access'))
    t.equal(body(a).type, 'access')
    const r = await expectAccepted(t, h, carry(location, hs(claims({ type: 'refresh' })), 'any', location === 'headers' || location === 'query' ? 'access' : 'refresh'))
    t.equal(body(r).type, 'refresh')
  }
  await h.close()
})

t.test('a token in a location the route does not allow is not found (per-route locations)', async t => {
  const h = await harness(undefined, {
    setup (app, hit) {
      app.route({ method: ['GET', 'POST'], url: '/header-only', preValidation: app.authx.guard({ locations: ['headers'] }), handler: async () => { hit(); return {} } })
    }
  })
  const token = h.app.createAccessToken('u')
  for (const location of ['cookies', 'query', 'json'] as Location[]) {
    const request = carry(location, token)
    await expectRefused(t, h, { ...request, url: String(request.url).replace('/access', '/header-only') }, [token], { code: MISSING, label: `header-only route, token via ${location}` })
  }
  await h.close()
})

t.test('a refresh token as the cookie or JSON access value of an app that issues both (substitution, RFC 8725 §2.8)', async t => {
  const h = await harness()
  const pair = h.app.createTokenPair('u')
  // swap the two cookies / the two JSON keys
  const swappedCookies = { method: 'GET' as const, url: '/access', headers: { cookie: `access_token_cookie=${pair.refresh_token}; refresh_token_cookie=${pair.access_token}` } }
  await expectRefused(t, h, swappedCookies, [pair.refresh_token, pair.access_token], { code: ACCESS_REQUIRED })
  await expectRefused(t, h, { ...swappedCookies, url: '/refresh' }, [pair.refresh_token, pair.access_token], { code: REFRESH_REQUIRED })
  const swappedJson = { method: 'POST' as const, url: '/access', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ access_token: pair.refresh_token, refresh_token: pair.access_token }) }
  await expectRefused(t, h, swappedJson, [pair.refresh_token, pair.access_token], { code: ACCESS_REQUIRED })
  await expectRefused(t, h, { ...swappedJson, url: '/refresh' }, [pair.refresh_token, pair.access_token], { code: REFRESH_REQUIRED })
  await h.close()
})

t.test('scope confusion: wildcards, case, look-alikes (README "Guarding routes", scopes; RFC 6750 §3.1 insufficient_scope)', async t => {
  const h = await harness()
  for (const scopes of [['*'], [':*'], ['admin*'], ['Admin'], ['ADMIN'], ['admin '], [' admin'], ['adm:*'], ['admin:'], ['admin:read'], ['admins'], ['*:*'], ['admin\u0000'], ['admіn'], []]) {
    const token = hs(claims({ scopes }))
    for (const location of LOCATIONS) {
      await expectRefused(t, h, carry(location, token, 'scoped'), [token], { status: 403, code: 'FST_AUTHX_INSUFFICIENT_SCOPE', label: `scopes ${JSON.stringify(scopes)} via ${location}` })
    }
  }
  for (const scopes of [['admin'], ['admin:*'], ['user', 'admin']]) {
    for (const location of LOCATIONS) await expectAccepted(t, h, carry(location, hs(claims({ scopes })), 'scoped'), `scopes ${JSON.stringify(scopes)} via ${location}`)
  }
  await h.close()
})

t.test('optional guards: no token gives null, a bad token still fails (README "Guarding routes", optional)', async t => {
  const seen: unknown[] = []
  const h = await harness(undefined, {
    setup (app, hit) {
      app.route({ method: ['GET', 'POST'], url: '/feed', preValidation: app.authx.guard({ optional: true }), handler: async request => { hit(); seen.push(request.tokenPayload); return { anonymous: request.tokenPayload === null } } })
    }
  })
  const none = await expectAccepted(t, h, { method: 'GET', url: '/feed' }, 'no token')
  t.equal(body(none).anonymous, true)
  const bad: Array<[string, string]> = [
    ['forged', hs(claims(), undefined, 'wrong-secret-wrong-secret-wrong-secret!!')],
    ['expired', hs(claims({ exp: Math.floor(Date.now() / 1000) - 5 }))],
    ['refresh', hs(claims({ type: 'refresh' }))],
    ['garbage', 'garbage']
  ]
  for (const [what, token] of bad) {
    for (const location of LOCATIONS) {
      const r = carry(location, token)
      await expectRefused(t, h, { ...r, url: String(r.url).replace('/access', '/feed') }, [token], { label: `optional route, ${what} via ${location}` })
    }
  }
  await h.close()
})
