/**
 * Attack class 4: time claims.
 * Sources: RFC 7519 §4.1.4 (exp: "MUST NOT be accepted for processing on or after" it; "some small leeway"),
 * §4.1.5 (nbf), §4.1.6 (iat), RFC 8725 §3.10 (validate all claims); OWASP JWT cheat sheet ("Token
 * expiration"); fast-jwt's `clockTolerance` counts milliseconds, the `leeway` option seconds (README "Options").
 */
import t from 'tap'
import { LOCATIONS, SECRET, body, carry, claims, expectAccepted, expectRefused, harness, hs, type RouteKind } from './helpers'
import { testClock } from '../helpers/app'

const INVALID = 'FST_AUTHX_INVALID_TOKEN'
const EXPIRED = 'FST_AUTHX_TOKEN_EXPIRED'
const now = () => Math.floor(Date.now() / 1000)

function routesFor (type: 'access' | 'refresh'): RouteKind[] {
  return type === 'access' ? ['access', 'fresh', 'any'] : ['refresh', 'any']
}

t.test('expired tokens of both types in every location (RFC 7519 §4.1.4)', async t => {
  const h = await harness()
  for (const type of ['access', 'refresh'] as const) {
    for (const ago of [1, 10, 3600, 86400 * 365]) {
      const token = hs(claims({ type, iat: now() - ago - 600, nbf: now() - ago - 600, exp: now() - ago }))
      for (const route of routesFor(type)) {
        for (const location of LOCATIONS) {
          await expectRefused(t, h, carry(location, token, route), [token], { code: EXPIRED, label: `${type} expired ${ago}s ago on /${route} via ${location}` })
        }
      }
    }
  }
  await h.close()
})

t.test('the exact exp boundary: exp == now is expired (RFC 7519 §4.1.4 "on or after")', async t => {
  // The plugin's clock set to the start of a second: exp == now holds for the whole test.
  const at = now()
  const clock = testClock(at * 1000)
  const h = await harness({ secret: SECRET, now: clock.now })
  for (const location of LOCATIONS) {
    const token = hs(claims({ iat: at - 60, nbf: at - 60, exp: at }))
    await expectRefused(t, h, carry(location, token), [token], { code: EXPIRED, label: `exp == now via ${location}` })
  }
  const later = hs(claims({ iat: at - 60, nbf: at - 60, exp: at + 5 }))
  await expectAccepted(t, h, carry('headers', later), 'exp = now + 5 is still valid')
  clock.advance(4999)
  await expectAccepted(t, h, carry('headers', later), 'and so it is a millisecond before exp')
  clock.advance(1)
  await expectRefused(t, h, carry('headers', later), [later], { code: EXPIRED, label: 'and expired from exp on, to the millisecond' })
  await h.close()
})

t.test('leeway is honoured in seconds, never milliseconds (RFC 7519 §4.1.4; README "Options", leeway)', async t => {
  const h = await harness({ secret: SECRET, leeway: 30 })
  for (const location of LOCATIONS) {
    await expectAccepted(t, h, carry(location, hs(claims({ iat: now() - 100, nbf: now() - 100, exp: now() - 20 }))), `expired 20 s ago, leeway 30 s, via ${location}`)
    const past = hs(claims({ iat: now() - 100, nbf: now() - 100, exp: now() - 45 }))
    await expectRefused(t, h, carry(location, past), [past], { code: EXPIRED, label: `expired 45 s ago, leeway 30 s, via ${location}` })
    await expectAccepted(t, h, carry(location, hs(claims({ nbf: now() + 20 }))), `nbf in 20 s, leeway 30 s, via ${location}`)
    const future = hs(claims({ nbf: now() + 45 }))
    await expectRefused(t, h, carry(location, future), [future], { code: INVALID, label: `nbf in 45 s, leeway 30 s, via ${location}` })
  }
  await h.close()
  const none = await harness({ secret: SECRET, leeway: 0 })
  // with leeway 0, a token that expired one second ago is expired (a ms-leeway bug would make 30 accept it)
  const oneSecond = hs(claims({ exp: now() - 1 }))
  await expectRefused(t, none, carry('headers', oneSecond), [oneSecond], { code: EXPIRED })
  await none.close()
})

t.test('future nbf and iat (RFC 7519 §4.1.5, §4.1.6)', async t => {
  const h = await harness()
  for (const ahead of [2, 60, 86400]) {
    const token = hs(claims({ nbf: now() + ahead, iat: now() }))
    for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token), [token], { code: INVALID, label: `nbf +${ahead}s via ${location}` })
    const refresh = hs(claims({ type: 'refresh', nbf: now() + ahead }))
    await expectRefused(t, h, carry('headers', refresh, 'refresh'), [refresh], { code: INVALID, label: `refresh nbf +${ahead}s` })
  }
  // iat in the future: RFC 7519 gives iat no validation rule; the plugin does not refuse it, but a future
  // iat must not shield a token from revokeAllSessions (the cut-off reads the jti time of our tokens, else iat).
  const futureIat = claims({ iat: now() + 3600, jti: 'not-a-uuidv7' })
  const token = hs(futureIat)
  const res = await h.app.inject(carry('headers', token))
  t.ok([200, 401].includes(res.statusCode), `iat one hour ahead: ${res.statusCode}`)
  t.comment(`a future iat (no nbf) is ${res.statusCode === 200 ? 'accepted' : 'refused'}`)
  if (res.statusCode === 200) {
    await h.app.authx.revokeToken(token)
    await expectRefused(t, h, carry('headers', token), [token], { code: 'FST_AUTHX_REVOKED_TOKEN', label: 'a future-iat token is still revocable by jti' })
  }
  await h.close()
})

t.test('wrong types and non-finite values of exp / nbf / iat (RFC 7519 §2 NumericDate)', async t => {
  const h = await harness()
  const values: unknown[] = [String(now() + 600), 'tomorrow', null, true, false, {}, [], [now() + 600], { valueOf: now() + 600 }, '', '1e400']
  for (const claim of ['exp', 'nbf', 'iat']) {
    for (const value of values) {
      const token = hs(claims({ [claim]: value }))
      for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token), [token], { code: INVALID, label: `${claim}: ${JSON.stringify(value)} via ${location}` })
    }
  }
  // non-finite numbers can only be written as out-of-range literals (JSON has no NaN / Infinity)
  for (const claim of ['exp', 'nbf', 'iat']) {
    for (const raw of ['1e400', '-1e400']) {
      const text = JSON.stringify(claims({ [claim]: undefined })).slice(0, -1) + `,"${claim}":${raw}}`
      const token = hs(text)
      for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token), [token], { code: [INVALID, EXPIRED], label: `${claim}: ${raw} via ${location}` })
    }
  }
  await h.close()
})

t.test('missing exp: refused unless that type\'s lifetime is false (README "Guarding routes", RFC 8725 §3.10)', async t => {
  const h = await harness()
  for (const type of ['access', 'refresh'] as const) {
    const token = hs(claims({ type, exp: undefined }))
    for (const route of routesFor(type)) {
      for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token, route), [token], { code: INVALID, label: `${type} without exp on /${route} via ${location}` })
    }
  }
  await h.close()

  const noAccessExp = await harness({ secret: SECRET, accessTokenExpires: false })
  for (const location of LOCATIONS) await expectAccepted(t, noAccessExp, carry(location, hs(claims({ exp: undefined }))), `access without exp, accessTokenExpires false, via ${location}`)
  const made = noAccessExp.app.createAccessToken('u')
  t.equal(noAccessExp.app.authx.verifyToken(made).exp, undefined, 'the instance issues access tokens without exp')
  const refreshNoExp = hs(claims({ type: 'refresh', exp: undefined }))
  for (const location of LOCATIONS) {
    await expectRefused(t, noAccessExp, carry(location, refreshNoExp, 'refresh'), [refreshNoExp], { code: INVALID, label: `refresh without exp (refresh lifetime still set) via ${location}` })
  }
  // an exp, when present, is still enforced even though the lifetime is false
  const expired = hs(claims({ exp: now() - 5 }))
  await expectRefused(t, noAccessExp, carry('headers', expired), [expired], { code: EXPIRED, label: 'an exp present is enforced even with lifetime false' })
  await noAccessExp.close()

  const noRefreshExp = await harness({ secret: SECRET, refreshTokenExpires: false })
  const accessNoExp = hs(claims({ exp: undefined }))
  for (const location of LOCATIONS) {
    await expectAccepted(t, noRefreshExp, carry(location, hs(claims({ type: 'refresh', exp: undefined })), 'refresh'), `refresh without exp, refreshTokenExpires false, via ${location}`)
    await expectRefused(t, noRefreshExp, carry(location, accessNoExp), [accessNoExp], { code: INVALID, label: `access without exp (access lifetime set) via ${location}` })
  }
  await noRefreshExp.close()
})

t.test('an expired token stays expired with key rotation and through verifyToken (README "Key rotation")', async t => {
  const old = 'the-previous-secret-which-is-32-bytes-long!'
  const h = await harness({ secret: SECRET, previousSecret: old })
  const expired = hs(claims({ exp: now() - 5 }), undefined, old)
  for (const location of LOCATIONS) await expectRefused(t, h, carry(location, expired), [expired], { code: EXPIRED, label: `expired, signed with the previous key, via ${location}` })
  t.throws(() => h.app.authx.verifyToken(expired), { code: EXPIRED })
  // revokeToken of an expired token is a no-op, never an error that leaks
  await h.app.authx.revokeToken(expired)
  t.equal(body(await h.app.inject(carry('headers', hs(claims())))).type, 'access', 'control')
  await h.close()
})
