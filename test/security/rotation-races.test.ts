/**
 * Attack class 11: refresh-token rotation races and reuse.
 * Sources: OAuth 2.0 Security BCP (RFC 9700) §4.14.2 (refresh token rotation: "If a refresh token is
 * compromised and subsequently used by both the attacker and the legitimate client, one of them will
 * present an invalidated refresh token, which will inform the authorization server of the breach"),
 * RFC 6749 §10.4; OWASP JWT cheat sheet; CWE-367 (TOCTOU: the redeem step must be atomic); README "Revocation, rotation and sessions".
 */
import t from 'tap'
import type { InjectOptions } from 'fastify'
import type { TokenStore } from '../../lib/index'
import { LOCATIONS, SECRET, body, expectRefused, harness, type Harness, type Location } from './helpers'
import { testClock, type TestClock } from '../helpers/app'
import { remoteStore } from '../helpers/stores'

const REUSED = 'FST_AUTHX_REFRESH_TOKEN_REUSED'
const REVOKED = 'FST_AUTHX_REVOKED_TOKEN'

/** A POST to /rotate carrying a refresh token in one location (cookies with its CSRF header). */
function rotateRequest (h: Harness, location: Location, token: string): InjectOptions {
  const url = '/rotate'
  switch (location) {
    case 'headers': return { method: 'POST', url, headers: { authorization: `Bearer ${token}` } }
    case 'cookies': return { method: 'POST', url, headers: { cookie: `refresh_token_cookie=${token}`, 'x-csrf-token': h.app.authx.getCsrfToken(token) as string } }
    case 'query': return { method: 'POST', url: `${url}?token=${encodeURIComponent(token)}` }
    case 'json': return { method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ refresh_token: token }) }
  }
}

/** An async store: every call waits a random 0–3 ms first, like a network round trip (redeem stays atomic). */
const slowStore = (): TokenStore => remoteStore(() => Math.floor(Math.random() * 4))

async function rotationApp (reuseGraceSeconds: number, store?: TokenStore, clock?: TestClock) {
  return await harness({ secret: SECRET, rotation: { reuseGraceSeconds }, ...(store === undefined ? {} : { store }), storeTimeout: 2000, now: clock?.now }, {
    setup (app, hit) {
      app.post('/rotate', { preValidation: app.requireRefresh }, async request => { hit(); return await app.authx.rotateRefreshToken(request.tokenPayload) })
    }
  })
}

/**
 * An async store whose redeem() round trips get shorter with each call: the first caller's answer
 * arrives last, as happens across Redis connections or instances. Deterministic.
 */
function reorderingStore (): TokenStore {
  let redeems = 0
  return remoteStore(method => method === 'redeem' ? Math.max(0, 60 - 3 * redeems++) : 0)
}

t.test('20 concurrent refreshes with reuseGraceSeconds 0: exactly one wins, the family is revoked (RFC 9700 §4.14.2, CWE-367)', async t => {
  // 'reordering store': requests 2 ms apart whose store answers arrive in reverse order. The reuse test in
  // lib/sessions.ts rotateRefreshToken() compares the caller's Date.now(), taken before redeem(), with the first mark:
  // an earlier caller whose answer arrives later sees `now - first < 0` and is let through as if within
  // the grace window, so several requests win even with reuseGraceSeconds 0.
  // (the async store fails only now and then for the same reason: random delays reorder answers sometimes)
  for (const [name, makeStore, spacing] of [['memory store', () => undefined, 0], ['async store', slowStore, 0], ['reordering store', reorderingStore, 2]] as Array<[string, () => TokenStore | undefined, number]>) {
    for (const location of LOCATIONS) {
      const h = await rotationApp(0, makeStore())
      const pair = await h.app.authx.createSession('alice')
      const results = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
        if (spacing > 0) await new Promise(resolve => setTimeout(resolve, i * spacing))
        return await h.app.inject(rotateRequest(h, location, pair.refresh_token))
      }))
      const statuses = results.map(r => r.statusCode)
      const winners = results.filter(r => r.statusCode === 200)
      t.equal(winners.length, 1, `${name} via ${location}: exactly one 200 (${statuses.join(',')})`)
      t.ok(statuses.every(s => s === 200 || s === 401), `${name} via ${location}: the others are 401, never 5xx`)
      const codes = new Set(results.filter(r => r.statusCode === 401).map(r => body(r).code))
      t.ok([...codes].every(c => c === REUSED || c === REVOKED), `${name} via ${location}: losers see ${[...codes].join(', ')}`)
      for (const r of results.filter(x => x.statusCode !== 200)) t.notOk(r.body.includes(pair.refresh_token.split('.')[2]), 'no token bytes in a refusal')
      // the race is reuse: the winner's new pair belongs to a revoked family
      const won = body(winners[0])
      await expectRefused(t, h, rotateRequest(h, location, won.refresh_token), [won.refresh_token], { code: REVOKED, label: `${name} via ${location}: the winner's new refresh token` })
      await expectRefused(t, h, { method: 'GET', url: '/access', headers: { authorization: `Bearer ${won.access_token}` } }, [won.access_token], { code: REVOKED, label: `${name} via ${location}: the winner's new access token` })
      await expectRefused(t, h, { method: 'GET', url: '/access', headers: { authorization: `Bearer ${pair.access_token}` } }, [pair.access_token], { code: REVOKED, label: `${name} via ${location}: the family's first access token` })
      await expectRefused(t, h, rotateRequest(h, location, pair.refresh_token), [pair.refresh_token], { code: [REUSED, REVOKED], label: `${name} via ${location}: the original again` })
      await h.close()
    }
  }
})

t.test('a stolen refresh token: whoever comes second after the grace window ends the session for both (RFC 9700 §4.14.2)', async t => {
  const clock = testClock()
  const h = await rotationApp(0.2, undefined, clock)
  for (const location of LOCATIONS) {
    const victim = await h.app.authx.createSession('victim')
    // the thief rotates first
    const thief = await h.app.inject(rotateRequest(h, location, victim.refresh_token))
    t.equal(thief.statusCode, 200, `thief rotates via ${location}`)
    const thiefPair = body(thief)
    // within the grace window the same token is a second tab: a second pair, nothing revoked
    const tab = await h.app.inject(rotateRequest(h, location, victim.refresh_token))
    t.equal(tab.statusCode, 200, `within the grace window via ${location}: a second pair`)
    t.equal((await h.app.inject({ method: 'GET', url: '/access', headers: { authorization: `Bearer ${thiefPair.access_token}` } })).statusCode, 200, 'nothing revoked yet')
    clock.advance(200) // exactly the grace window: a use at first use + reuseGraceSeconds is reuse
    // the victim comes back after the window: reuse, refused by requireRefresh before the handler
    await expectRefused(t, h, rotateRequest(h, location, victim.refresh_token), [victim.refresh_token], { code: REUSED, label: `reuse after the window via ${location}` })
    // every token of the family is dead: the thief's and the second tab's
    for (const pair of [thiefPair, body(tab)]) {
      await expectRefused(t, h, rotateRequest(h, location, pair.refresh_token), [pair.refresh_token], { code: REVOKED, label: `family refresh token via ${location}` })
      for (const where of LOCATIONS) {
        const request = where === 'headers'
          ? { method: 'GET' as const, url: '/access', headers: { authorization: `Bearer ${pair.access_token}` } }
          : where === 'cookies'
            ? { method: 'GET' as const, url: '/access', headers: { cookie: `access_token_cookie=${pair.access_token}` } }
            : where === 'query'
              ? { method: 'GET' as const, url: `/access?token=${pair.access_token}` }
              : { method: 'POST' as const, url: '/access', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ access_token: pair.access_token }) }
        await expectRefused(t, h, request, [pair.access_token], { code: REVOKED, label: `family access token via ${where}` })
      }
    }
    t.same(await h.app.authx.listSessions('victim'), [], 'the session is gone')
  }
  await h.close()
})

t.test('a stolen family-less refresh token (createRefreshToken): reuse ends the thief\'s rotated pair too (RFC 9700 §4.14.2; lib/sessions.ts rotateRefreshToken(), lib/revocation.ts judge())', async t => {
  // createRefreshToken issues no `fam` (README "Making tokens"). Rotating it starts a brand-new family, so when the
  // victim's reuse is detected only the original jti is revoked and the thief's rotated pair lives on.
  const h = await rotationApp(0)
  for (const location of LOCATIONS) {
    const stolen = h.app.createRefreshToken('victim')
    const thief = await h.app.inject(rotateRequest(h, location, stolen))
    t.equal(thief.statusCode, 200, `the thief rotates first via ${location}`)
    const thiefPair = body(thief)
    await expectRefused(t, h, rotateRequest(h, location, stolen), [stolen], { code: REUSED, label: `the victim's reuse is detected via ${location}` })
    await expectRefused(t, h, rotateRequest(h, location, thiefPair.refresh_token), [thiefPair.refresh_token], { code: [REVOKED, REUSED], label: `the thief's rotated refresh token is dead via ${location}` })
    await expectRefused(t, h, { method: 'GET', url: '/access', headers: { authorization: `Bearer ${thiefPair.access_token}` } }, [thiefPair.access_token], { code: REVOKED, label: `the thief's rotated access token is dead via ${location}` })
  }
  await h.close()
})

t.test('within the grace window, 20 concurrent refreshes (two tabs) all succeed and revoke nothing', async t => {
  const h = await rotationApp(10, slowStore())
  const pair = await h.app.authx.createSession('alice')
  const fam = h.app.authx.verifyToken(pair.refresh_token).fam
  const results = await Promise.all(Array.from({ length: 20 }, () => h.app.inject(rotateRequest(h, 'headers', pair.refresh_token))))
  t.same(results.map(r => r.statusCode), Array(20).fill(200))
  for (const r of results) {
    const p = h.app.authx.verifyToken(body(r).refresh_token)
    t.equal(p.fam, fam, 'same family')
    t.equal((await h.app.inject({ method: 'GET', url: '/access', headers: { authorization: `Bearer ${body(r).access_token}` } })).statusCode, 200)
  }
  await h.close()
})

t.test('rotation refuses what is not a verified refresh payload; maxSessionAge ends a family however often it rotates', async t => {
  const h = await rotationApp(0)
  await t.rejects(h.app.authx.rotateRefreshToken(h.app.authx.verifyToken(h.app.createAccessToken('u'))), { code: 'FST_AUTHX_REFRESH_TOKEN_REQUIRED' })
  await t.rejects(h.app.authx.rotateRefreshToken(null as any), { code: 'FST_AUTHX_REFRESH_TOKEN_REQUIRED' })
  await h.close()

  const clock = testClock()
  const aged = await harness({ secret: SECRET, rotation: { reuseGraceSeconds: 0, maxSessionAge: 1 }, now: clock.now }, {
    setup (app, hit) { app.post('/rotate', { preValidation: app.requireRefresh }, async request => { hit(); return await app.authx.rotateRefreshToken(request.tokenPayload) }) }
  })
  const pair = await aged.app.authx.createSession('u')
  t.ok((aged.app.authx.verifyToken(pair.refresh_token).exp as number) <= Math.floor(clock.now() / 1000) + 1, 'the refresh token does not outlive the family')
  clock.advance(2000)
  await expectRefused(t, aged, rotateRequest(aged, 'headers', pair.refresh_token), [pair.refresh_token], { code: 'FST_AUTHX_TOKEN_EXPIRED', label: 'past maxSessionAge' })
  await aged.close()
})
