/**
 * Attack class 1: the `alg` header and algorithm confusion.
 * Sources: RFC 8725 §2.1 / §3.1 (algorithm verification), §3.2 (appropriate algorithms), RFC 7518 §3.6
 * (`none`), RFC 7515 §4.1.1; CVE-2015-9235 (jsonwebtoken `none`/key confusion), CVE-2022-23540 / 23541
 * (jsonwebtoken), CVE-2023-48223 / GHSA-c2ff-88x2-x9pg (fast-jwt PKCS#1 PEM as HMAC secret),
 * GHSA-mvf2-f6gm-w987 (whitespace-prefixed PEM), GHSA-ww5h-9m49-7xx4 (control-char / zero-width prefixed PEM),
 * GHSA-g3jj-5cmm-3hxx (JWK / JWKS JSON as HMAC secret), GHSA-8wpc-h4q6-8fxv and GHSA-gmvf-9v4p-v8jc
 * (empty / degenerate keys); OWASP JWT cheat sheet "None hashing algorithm" and "Token sidejacking".
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import t, { type Test } from 'tap'
import type { AuthxOptions } from '../../lib/index'
import { keyPair } from '../helpers/app'
import { LOCATIONS, SECRET, b64, carry, claims, expectAccepted, expectRefused, harness, hs, jws, type Harness } from './helpers'

const INVALID = 'FST_AUTHX_INVALID_TOKEN'

async function refusedEverywhere (t: Test, h: Harness, token: string, label: string, route: 'access' | 'refresh' = 'access') {
  for (const location of LOCATIONS) {
    await expectRefused(t, h, carry(location, token, route), [token], { code: INVALID, label: `${label} via ${location}` })
  }
}

t.test('positive control: a correctly forged HS256 token is accepted in every location', async t => {
  const h = await harness()
  for (const location of LOCATIONS) await expectAccepted(t, h, carry(location, hs(claims())))
  await h.close()
})

t.test('alg none in every casing, with and without a signature (RFC 8725 §3.1, RFC 7518 §3.6, CVE-2015-9235)', async t => {
  const hmac = await harness()
  const rsa = await harness({ algorithm: 'RS256', privateKey: keyPair('RS256').privateKey })
  for (const h of [hmac, rsa]) {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const header = { alg, typ: 'JWT' }
      const input = `${b64(header)}.${b64(claims())}`
      const variants: Array<[string, string]> = [
        ['no signature', `${input}.`],
        ['no signature, no dot', input],
        ['garbage signature', `${input}.AAAA`],
        ['an HMAC of the real secret', jws(header, claims(), SECRET, { alg: 'HS256' })],
        ['an HMAC with an empty key', jws(header, claims(), '', { alg: 'HS256' })]
      ]
      for (const [what, token] of variants) await refusedEverywhere(t, h, token, `alg ${alg}, ${what}`)
    }
  }
  await hmac.close()
  await rsa.close()
})

t.test('missing and odd alg values, signed with the real secret (RFC 8725 §3.1, RFC 7515 §4.1.1)', async t => {
  const h = await harness()
  const odd: unknown[] = [undefined, null, '', 256, 0, true, {}, [], ['HS256'], { alg: 'HS256' },
    'HS256 ', ' HS256', 'hs256', 'Hs256', 'HS256\u0000', 'HS2560', 'HS-256', 'HMAC-SHA256', 'HS256,none', 'HS256\n']
  for (const alg of odd) {
    const header = alg === undefined ? { typ: 'JWT' } : { alg, typ: 'JWT' }
    const token = jws(header, claims(), SECRET, { alg: 'HS256' })
    await refusedEverywhere(t, h, token, `alg ${JSON.stringify(alg)}`)
  }
  await h.close()
})

t.test('algorithms outside the allow-list (RFC 8725 §3.1, §3.2)', async t => {
  const h = await harness()
  // HS384 / HS512 with the right secret: a valid MAC, but not an allowed algorithm
  for (const alg of ['HS384', 'HS512']) await refusedEverywhere(t, h, jws({ alg, typ: 'JWT' }, claims(), SECRET), `${alg} on an HS256 instance`)
  // asymmetric algorithms on an HMAC instance, signed by the attacker's own keys
  for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA']) {
    await refusedEverywhere(t, h, jws({ alg, typ: 'JWT' }, claims(), keyPair(alg).privateKey), `${alg} on an HMAC instance`)
  }
  await h.close()

  // The allow-list is the configuration, never the token: HS512-only refuses HS256 made with its secret.
  const only512 = await harness({ secret: SECRET, algorithm: 'HS512' })
  await refusedEverywhere(t, only512, hs(claims()), 'HS256 on an HS512 instance')
  await expectAccepted(t, only512, carry('headers', jws({ alg: 'HS512', typ: 'JWT' }, claims(), SECRET)), 'HS512 control')
  await only512.close()

  // An RS256 instance refuses PS256 / RS512 made with its own private key unless allow-listed.
  const rs = await harness({ algorithm: 'RS256', privateKey: keyPair('RS256').privateKey })
  for (const alg of ['PS256', 'RS512', 'RS384']) {
    await refusedEverywhere(t, rs, jws({ alg, typ: 'JWT' }, claims(), keyPair('RS256').privateKey), `${alg} with the instance key on an RS256-only instance`)
  }
  await expectAccepted(t, rs, carry('headers', jws({ alg: 'RS256', typ: 'JWT' }, claims(), keyPair('RS256').privateKey)), 'RS256 control')
  await rs.close()
})

/** Every way an attacker could spell a public key when using it as an HMAC secret. */
function spellings (pub: KeyObject, jwks: unknown): Array<[string, string | Buffer]> {
  const spki = pub.export({ type: 'spki', format: 'pem' }) as string
  const der = pub.export({ type: 'spki', format: 'der' })
  const jwk = pub.export({ format: 'jwk' })
  const out: Array<[string, string | Buffer]> = [
    ['SPKI PEM', spki],
    ['SPKI PEM, no trailing newline', spki.trimEnd()],
    ['SPKI PEM, CRLF', spki.replace(/\n/g, '\r\n')],
    ['SPKI PEM as a Buffer', Buffer.from(spki)],
    ['SPKI DER bytes', der],
    ['SPKI DER, base64 (PEM body without armour)', der.toString('base64')],
    ['JWK JSON', JSON.stringify(jwk)],
    ['JWK JSON, pretty', JSON.stringify(jwk, null, 2)],
    ['JWKS JSON as served by jwks()', JSON.stringify(jwks)],
    ['JWK as served (with kid/alg/use)', JSON.stringify((jwks as { keys: unknown[] }).keys[0])]
  ]
  // GHSA-mvf2-f6gm-w987 (whitespace) and GHSA-ww5h-9m49-7xx4 (control chars, zero-width unicode, wrappers)
  for (const [name, prefix] of [['space', ' '], ['newline', '\n'], ['tab', '\t'], ['CRLF', '\r\n'], ['NUL', '\u0000'],
    ['SOH', '\u0001'], ['zero-width space', '\u200b'], ['BOM', '\ufeff'], ['text', 'key: ']] as const) {
    out.push([`SPKI PEM with a ${name} prefix`, prefix + spki])
  }
  if (pub.asymmetricKeyType === 'rsa') {
    const pkcs1 = pub.export({ type: 'pkcs1', format: 'pem' }) as string
    out.push(['PKCS#1 PEM (BEGIN RSA PUBLIC KEY), CVE-2023-48223', pkcs1])
    out.push(['PKCS#1 PEM with a space prefix', ' ' + pkcs1])
    out.push(['PKCS#1 PEM with a zero-width prefix', '\u200b' + pkcs1])
    out.push(['PKCS#1 DER bytes', pub.export({ type: 'pkcs1', format: 'der' })])
  }
  return out
}

t.test('asymmetric → HMAC confusion: the public key as an HMAC secret, in every spelling (CVE-2023-48223, GHSA-c2ff-88x2-x9pg, GHSA-mvf2-f6gm-w987, GHSA-ww5h-9m49-7xx4, GHSA-g3jj-5cmm-3hxx)', async t => {
  const instances: Array<[string, AuthxOptions, KeyObject]> = [
    ['RS256', { algorithm: 'RS256', privateKey: keyPair('RS256').privateKey }, keyPair('RS256').publicKey],
    ['PS256', { algorithm: 'PS256', privateKey: keyPair('PS256').privateKey }, keyPair('PS256').publicKey],
    ['ES256', { algorithm: 'ES256', privateKey: keyPair('ES256').privateKey }, keyPair('ES256').publicKey],
    ['EdDSA', { algorithm: 'EdDSA', privateKey: keyPair('EdDSA').privateKey }, keyPair('EdDSA').publicKey],
    // verify-only, with a previous key: the multi-key lookup path
    ['RS256 verify-only with previousPublicKeys', {
      algorithm: 'RS256', publicKey: keyPair('RS256').publicKey, previousPublicKeys: [generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey]
    }, keyPair('RS256').publicKey]
  ]
  for (const [name, options, pub] of instances) {
    const h = await harness(options)
    const jwks = h.app.authx.jwks()
    const kid = (jwks.keys[0] as { kid: string }).kid
    await t.test(`${name} instance`, async t => {
      if (options.privateKey !== undefined) await expectAccepted(t, h, carry('headers', h.app.createAccessToken('control')), 'control')
      for (const [spelling, secret] of spellings(pub, jwks)) {
        for (const alg of ['HS256', 'HS384', 'HS512']) {
          const token = jws({ alg, typ: 'JWT' }, claims(), secret)
          await refusedEverywhere(t, h, token, `${alg} keyed with ${spelling}`)
        }
        // with the instance's own kid, so a kid lookup finds the real key first
        const withKid = jws({ alg: 'HS256', typ: 'JWT', kid }, claims(), secret)
        await refusedEverywhere(t, h, withKid, `HS256 keyed with ${spelling}, kid of the instance`)
      }
    })
    await h.close()
  }
})

t.test('empty and degenerate keys (GHSA-8wpc-h4q6-8fxv, GHSA-gmvf-9v4p-v8jc, CVE-2022-23540)', async t => {
  const h = await harness({ secret: SECRET, previousSecret: 'a-previous-secret-of-at-least-32-bytes!!' })
  const header = { alg: 'HS256', typ: 'JWT' }
  const input = `${b64(header)}.${b64(claims())}`
  const variants: Array<[string, string]> = [
    ['HMAC with an empty string key', hs(claims(), header, '')],
    ['HMAC with an empty Buffer key', hs(claims(), header, Buffer.alloc(0))],
    ['HMAC with a NUL key', hs(claims(), header, '\u0000')],
    ['HMAC with the key "undefined"', hs(claims(), header, 'undefined')],
    ['HMAC with the key "null"', hs(claims(), header, 'null')],
    ['HMAC with the key "false"', hs(claims(), header, 'false')],
    ['empty signature', `${input}.`],
    ['signature of zero bytes, base64url "A"', `${input}.A`],
    ['32 zero bytes as signature', `${input}.${Buffer.alloc(32).toString('base64url')}`]
  ]
  for (const [what, token] of variants) await refusedEverywhere(t, h, token, what)
  await h.close()

  const rs = await harness({ algorithm: 'RS256', publicKey: keyPair('RS256').publicKey })
  const rsInput = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims())}`
  for (const [what, token] of [['RS256, empty signature', `${rsInput}.`], ['RS256, one byte', `${rsInput}.AA`], ['RS256, 256 zero bytes', `${rsInput}.${Buffer.alloc(256).toString('base64url')}`]]) {
    await refusedEverywhere(t, rs, token, what)
  }
  await rs.close()
})
