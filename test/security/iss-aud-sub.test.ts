/**
 * Attack class 5: issuer, audience and subject.
 * Sources: RFC 7519 §4.1.1 (iss), §4.1.2 (sub), §4.1.3 (aud: "If the principal processing the claim does
 * not identify itself with a value in the aud claim ... the JWT MUST be rejected"; aud may be an array),
 * RFC 8725 §3.9 (use and validate aud), §3.10 (validate iss and sub), §2.7 / §3.12 (substitution and
 * cross-JWT confusion); GHSA-cjw9-ghj4-fwxf (fast-jwt allowed* values as RegExp).
 */
import t from 'tap'
import { LOCATIONS, SECRET, body, carry, claims, expectAccepted, expectRefused, harness, hs } from './helpers'

const INVALID = 'FST_AUTHX_INVALID_TOKEN'
const ISS = 'https://issuer.example'
const AUD = 'api.example'

t.test('issuer: wrong, missing, look-alike and mistyped iss are refused (RFC 7519 §4.1.1, RFC 8725 §3.10)', async t => {
  const h = await harness({ secret: SECRET, issuer: ISS, decodeIssuer: ISS })
  for (const location of LOCATIONS) {
    await expectAccepted(t, h, carry(location, h.app.createAccessToken('u')), `own token via ${location}`)
    await expectAccepted(t, h, carry(location, hs(claims({ iss: ISS }))), `iss ${ISS} via ${location}`)
  }
  const bad: unknown[] = [undefined, '', 'https://evil.example', `${ISS}.evil.example`, `${ISS}/`, `x${ISS}`, 'https://issuerXexample', ISS.toUpperCase(),
    ` ${ISS}`, `${ISS}\u0000`, [ISS], [ISS, 'https://evil.example'], { iss: ISS }, 42, null, true]
  for (const iss of bad) {
    const token = hs(claims({ iss }))
    for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token), [token], { code: INVALID, label: `iss ${JSON.stringify(iss)} via ${location}` })
  }
  await h.close()

  // a regex metacharacter in the configured issuer is a literal, never a pattern (GHSA-cjw9-ghj4-fwxf context)
  const meta = await harness({ secret: SECRET, decodeIssuer: ['https://a.example', 'issuer.*'] })
  for (const iss of ['https://aXexample', 'issuer-anything', 'issuer.', 'https://a.example.evil']) {
    const token = hs(claims({ iss }))
    await expectRefused(t, meta, carry('headers', token), [token], { code: INVALID, label: `iss ${iss} against literal allow-list` })
  }
  await expectAccepted(t, meta, carry('headers', hs(claims({ iss: 'issuer.*' }))), 'the literal value itself')
  await meta.close()
})

t.test('audience: wrong, missing, arrays (RFC 7519 §4.1.3, RFC 8725 §3.9)', async t => {
  const h = await harness({ secret: SECRET, audience: AUD, decodeAudience: [AUD, 'other.example'] })
  for (const location of LOCATIONS) {
    await expectAccepted(t, h, carry(location, h.app.createAccessToken('u')), `own token via ${location}`)
    await expectAccepted(t, h, carry(location, hs(claims({ aud: [`nope.example`, AUD] }))), `aud array holding ${AUD} via ${location}`)
  }
  const bad: unknown[] = [undefined, '', 'evil.example', `${AUD}.evil`, `${AUD} `, AUD.toUpperCase(), [], ['evil.example'], [[AUD]], [{ aud: AUD }],
    { aud: AUD }, 7, null, false, `${AUD},evil.example`]
  for (const aud of bad) {
    const token = hs(claims({ aud }))
    for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token), [token], { code: INVALID, label: `aud ${JSON.stringify(aud)} via ${location}` })
  }
  // A token made for another audience by the same issuer (cross-service substitution, RFC 8725 §2.7)
  const elsewhere = h.app.createAccessToken('u', { audience: 'billing.example' })
  for (const location of LOCATIONS) await expectRefused(t, h, carry(location, elsewhere), [elsewhere], { code: INVALID, label: `a token minted for billing.example via ${location}` })
  await h.close()

  // without decodeAudience, aud is not checked (documented): a token with any aud passes the guard
  const open = await harness()
  await expectAccepted(t, open, carry('headers', hs(claims({ aud: 'anything' }))), 'aud unchecked without decodeAudience')
  await open.close()
})

t.test('subject: empty, non-string and missing sub are refused (RFC 7519 §4.1.2; README "Guarding routes")', async t => {
  const h = await harness()
  const bad: unknown[] = [undefined, '', 0, 42, -1, true, false, null, {}, { id: 'u' }, [], ['u'], [['u']]]
  for (const sub of bad) {
    for (const type of ['access', 'refresh'] as const) {
      const token = hs(claims({ sub, type }))
      for (const location of LOCATIONS) {
        await expectRefused(t, h, carry(location, token, type), [token], { code: INVALID, label: `${type} sub ${JSON.stringify(sub)} via ${location}` })
      }
    }
  }
  // empty or non-string jti too (revocation is keyed on it)
  for (const jti of [undefined, '', 7, null, {}, ['j']]) {
    const token = hs(claims({ jti }))
    for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token), [token], { code: INVALID, label: `jti ${JSON.stringify(jti)} via ${location}` })
  }
  // whitespace and odd-but-non-empty strings are subjects like any other (the app decides what they name)
  for (const sub of [' ', '\u0000', 'a'.repeat(1000), '__proto__', 'constructor']) {
    const res = await expectAccepted(t, h, carry('headers', hs(claims({ sub }))), `sub ${JSON.stringify(sub.slice(0, 12))} is a non-empty string`)
    t.equal(body(res).sub, sub)
  }
  await h.close()
})

t.test('identityClaim override: the configured claim, never sub, carries the identity (README "Options", identityClaim)', async t => {
  const h = await harness({ secret: SECRET, identityClaim: 'uid' }, {
    setup (app, hit) {
      app.get('/who', { preValidation: app.requireAccess }, async request => { hit(); return { uid: (request.tokenPayload as any).uid } })
    }
  })
  const own = h.app.createAccessToken('alice')
  t.equal(h.app.authx.verifyToken(own).uid as unknown, 'alice')
  t.equal((h.app.authx.verifyToken(own) as any).sub, undefined, 'sub is not written')
  for (const location of LOCATIONS) await expectAccepted(t, h, carry(location, hs(claims({ sub: undefined, uid: 'alice' }))), `uid via ${location}`)
  const withSubOnly = hs(claims({ sub: 'alice' }))
  for (const location of LOCATIONS) await expectRefused(t, h, carry(location, withSubOnly), [withSubOnly], { code: INVALID, label: `sub but no uid via ${location}` })
  for (const uid of ['', 0, null, {}, ['alice'], true]) {
    const token = hs(claims({ sub: 'alice', uid }))
    for (const location of LOCATIONS) await expectRefused(t, h, carry(location, token), [token], { code: INVALID, label: `uid ${JSON.stringify(uid)} via ${location}` })
  }
  // revocation and revokeAllSessions key on the identity claim
  const token = hs(claims({ sub: 'mallory', uid: 'alice' }))
  await h.app.authx.revokeAllSessions('alice')
  await expectRefused(t, h, carry('headers', token), [token], { code: 'FST_AUTHX_REVOKED_TOKEN', label: 'revokeAllSessions(uid) holds whatever sub says' })
  const other = hs(claims({ sub: 'alice', uid: 'bob' }))
  await expectAccepted(t, h, carry('headers', other), 'revoking alice does not touch a token whose uid is bob')
  await h.close()
})
