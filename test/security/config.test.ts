/**
 * Configuration guards at register time: what test/options.test.ts does not already cover.
 * Sources: RFC 8725 §3.2 / §3.5 (appropriate algorithms, sufficient key entropy: "human-memorizable
 * passwords MUST NOT be directly used as the key"), RFC 7518 §3.2 (an HS256 key of at least 256 bits),
 * §3.3 / NIST SP 800-131A (RSA ≥ 2048 bits; CVE-2022-23539 in jsonwebtoken); CVE-2023-48223,
 * GHSA-mvf2-f6gm-w987, GHSA-ww5h-9m49-7xx4, GHSA-g3jj-5cmm-3hxx (public keys, however spelled, as HMAC
 * secrets); GHSA-8wpc-h4q6-8fxv (empty keys); RFC 6265bis §4.1.2.7 (SameSite=None requires Secure).
 */
import { generateKeyPairSync } from 'node:crypto'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import authx, { type AuthxOptions } from '../../lib/index'
import { SECRET, keyPair, registerError } from '../helpers/app'
import './helpers' // this attack class reports its case count too (its refusals are checked by its own assertions)

async function refused (t: Test, options: unknown, path: string, label: string) {
  const err = await registerError(options)
  t.equal(err?.code, 'FST_AUTHX_BAD_OPTIONS', `${label}: refused`)
  t.match(String(err?.message), new RegExp(`bad option ${path.replace(/\./g, '\\.')}\\b`), `${label}: names ${path}`)
}

async function warnings (options: AuthxOptions): Promise<string[]> {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (l: string) => { lines.push(l) } } } })
  await app.register(authx, options)
  await app.ready()
  await app.close()
  return lines
}

const rsaPub = keyPair('RS256').publicKey
const spki = rsaPub.export({ type: 'spki', format: 'pem' }) as string
const pkcs1 = rsaPub.export({ type: 'pkcs1', format: 'pem' }) as string
const jwk = JSON.stringify(rsaPub.export({ format: 'jwk' }))

t.test('public and private keys, in every PEM and JSON spelling, are not HMAC secrets (CVE-2023-48223 and successors)', async t => {
  const spellings: Array<[string, unknown]> = [
    ['PKCS#1 public PEM', pkcs1],
    ['SPKI PEM as a Buffer', Buffer.from(spki)],
    ['PEM with a zero-width prefix (GHSA-ww5h-9m49-7xx4)', '\u200b' + spki],
    ['PEM with a BOM', '\ufeff' + spki],
    ['PEM with a NUL prefix', '\u0000' + spki],
    ['PEM with CRLF line ends', spki.replace(/\n/g, '\r\n')],
    ['PEM with whitespace prefix (GHSA-mvf2-f6gm-w987)', '  \n\t' + spki],
    ['PKCS#8 private PEM', keyPair('RS256').privateKey.export({ type: 'pkcs8', format: 'pem' })],
    ['PKCS#1 private PEM', keyPair('RS256').privateKey.export({ type: 'pkcs1', format: 'pem' })],
    ['EC public PEM', keyPair('ES256').publicKey.export({ type: 'spki', format: 'pem' })],
    ['SEC1 EC private PEM', keyPair('ES256').privateKey.export({ type: 'sec1', format: 'pem' })],
    ['Ed25519 public PEM', keyPair('EdDSA').publicKey.export({ type: 'spki', format: 'pem' })],
    ['a certificate-shaped PEM', `-----BEGIN CERTIFICATE-----\n${'A'.repeat(64)}\n-----END CERTIFICATE-----\n`],
    ['JWK, pretty-printed (GHSA-g3jj-5cmm-3hxx)', JSON.stringify(JSON.parse(jwk), null, 2)],
    ['JWK with a leading newline', '\n' + jwk],
    ['JWK with a BOM (a file saved by some editors; lib/keys.ts checkSecret())', '\ufeff' + jwk],
    ['JWK with a zero-width prefix (GHSA-ww5h-9m49-7xx4 applied to JSON)', '\u200b' + jwk],
    ['JWK with a NUL prefix', '\u0000' + jwk],
    ['JWK as a Buffer', Buffer.from(jwk)],
    ['JWKS', JSON.stringify({ keys: [JSON.parse(jwk)] })],
    ['an EC JWK', JSON.stringify(keyPair('ES256').publicKey.export({ format: 'jwk' }))],
    ['an oct JWK', JSON.stringify({ kty: 'oct', k: Buffer.from(SECRET).toString('base64url') })]
  ]
  for (const [what, secret] of spellings) {
    await refused(t, { secret }, 'secret', `secret: ${what}`)
    await refused(t, { secret: SECRET, previousSecret: secret }, 'previousSecret', `previousSecret: ${what}`)
    await refused(t, { secret: SECRET, previousSecret: [SECRET + '-old', { secret, keyId: 'old' }] }, 'previousSecret.1', `previousSecret list: ${what}`)
  }
})

t.test('empty and degenerate secrets (GHSA-8wpc-h4q6-8fxv, GHSA-gmvf-9v4p-v8jc)', async t => {
  for (const [what, secret] of [['empty string', ''], ['empty Buffer', Buffer.alloc(0)], ['null', null], ['a number', 0], ['an object', {}], ['a KeyObject', rsaPub], ['false', false]] as Array<[string, unknown]>) {
    await refused(t, { secret }, 'secret', `secret: ${what}`)
    // previousSecret: null must fail with FST_AUTHX_BAD_OPTIONS, not a TypeError (lib/keys.ts loadKeys(), previousSecret entries)
    await refused(t, { secret: SECRET, previousSecret: secret }, 'previousSecret', `previousSecret: ${what}`)
    await refused(t, { secret: SECRET, previousSecret: [secret] }, 'previousSecret.0', `previousSecret: [${what}]`)
  }
  await refused(t, { secret: [SECRET] }, 'secret', 'secret: an array')
  await refused(t, { secret: SECRET, previousSecret: [{ secret: '' }] }, 'previousSecret.0', 'previousSecret entry with an empty secret')
  await refused(t, { secret: SECRET, previousSecret: [{ keyId: 'k' }] }, 'previousSecret.0', 'previousSecret entry without a secret')
})

t.test('weak secrets warn at startup, by byte length, without logging the secret (RFC 7518 §3.2, RFC 8725 §3.5)', async t => {
  const cases: Array<[string, string | Buffer, boolean]> = [
    ['31 ASCII bytes', 'k'.repeat(31), true],
    ['32 ASCII bytes', 'k'.repeat(32), false],
    ['16 two-byte characters (32 bytes)', 'é'.repeat(16), false],
    ['15 two-byte characters (30 bytes)', 'é'.repeat(15), true],
    ['a 16-byte Buffer', Buffer.alloc(16, 7), true],
    ['a 64-byte Buffer', Buffer.alloc(64, 7), false],
    ['whitespace only', '   ', true]
  ]
  for (const [what, secret, warns] of cases) {
    const lines = await warnings({ secret })
    t.equal(lines.some(l => /shorter than 32 bytes/.test(l)), warns, `${what}: ${warns ? 'warns' : 'no warning'}`)
    if (typeof secret === 'string' && secret.trim() !== '') t.notOk(lines.join('').includes(secret), `${what}: the secret is not logged`)
  }
  const prev = await warnings({ secret: SECRET, previousSecret: 'short-previous' })
  t.ok(prev.some(l => /previousSecret is shorter than 32 bytes/.test(l)), 'a short previousSecret warns, by name')
  t.notOk(prev.join('').includes('short-previous'), 'without its value')
})

t.test('none and unknown algorithms in every spelling; no mixing HMAC with asymmetric (RFC 8725 §3.1 / §3.2)', async t => {
  for (const alg of ['none', 'None', 'NONE', 'nOnE', 'none ', '', 'hs256', 'HS256 ', 'HS1', 'RS1', 'ES256K', 'Ed25519', 'HMAC']) {
    await refused(t, { secret: SECRET, algorithm: alg }, 'algorithm', `algorithm ${JSON.stringify(alg)}`)
    await refused(t, { secret: SECRET, decodeAlgorithms: ['HS256', alg] }, 'decodeAlgorithms', `decodeAlgorithms with ${JSON.stringify(alg)}`)
  }
  const rs = keyPair('RS256').privateKey
  for (const list of [['RS256', 'HS256'], ['HS256', 'RS256'], ['RS256', 'HS512'], ['EdDSA', 'HS256']]) {
    const options = list[0].startsWith('HS') ? { secret: SECRET, decodeAlgorithms: list } : { algorithm: list[0], privateKey: list[0] === 'EdDSA' ? keyPair('EdDSA').privateKey : rs, decodeAlgorithms: list }
    await refused(t, options, 'decodeAlgorithms', `mixed ${list.join('+')}`)
  }
  await refused(t, { secret: SECRET, decodeAlgorithms: 'HS256' }, 'decodeAlgorithms', 'a string, not a list')
  // an asymmetric algorithm with an HMAC secret, and the reverse
  await refused(t, { algorithm: 'RS256', secret: SECRET, privateKey: rs }, 'secret', 'RS256 with a secret too')
  await refused(t, { secret: SECRET, publicKey: rsaPub }, 'privateKey', 'HS256 with a public key too')
  await refused(t, { secret: SECRET, previousPublicKeys: [rsaPub] }, 'privateKey', 'HS256 with previousPublicKeys')
})

t.test('RSA keys under 2048 bits are refused wherever they appear (CVE-2022-23539, NIST SP 800-131A)', async t => {
  for (const bits of [512, 1024, 1536]) {
    const weak = generateKeyPairSync('rsa', { modulusLength: bits })
    await refused(t, { algorithm: 'RS256', privateKey: weak.privateKey }, 'privateKey', `${bits}-bit privateKey`)
    await refused(t, { algorithm: 'RS256', publicKey: weak.publicKey }, 'publicKey', `${bits}-bit publicKey`)
    await refused(t, { algorithm: 'RS256', privateKey: keyPair('RS256').privateKey, previousPublicKeys: [weak.publicKey] }, 'previousPublicKeys.0', `${bits}-bit previous key`)
    await refused(t, { algorithm: 'PS256', privateKey: weak.privateKey.export({ type: 'pkcs8', format: 'pem' }) }, 'privateKey', `${bits}-bit PEM for PS256`)
  }
  const pss = generateKeyPairSync('rsa-pss', { modulusLength: 1024 })
  await refused(t, { algorithm: 'PS256', privateKey: pss.privateKey }, 'privateKey', '1024-bit RSA-PSS key')
  t.equal(await registerError({ algorithm: 'RS256', privateKey: generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey }), undefined, '3072 bits is fine')
})

t.test('keys that do not fit the algorithm (RFC 8725 §3.1; CVE-2022-23541)', async t => {
  await refused(t, { algorithm: 'ES384', privateKey: keyPair('ES256').privateKey }, 'privateKey', 'P-256 key for ES384')
  await refused(t, { algorithm: 'RS256', privateKey: keyPair('EdDSA').privateKey }, 'privateKey', 'Ed25519 key for RS256')
  await refused(t, { algorithm: 'EdDSA', privateKey: keyPair('ES256').privateKey }, 'privateKey', 'EC key for EdDSA')
  await refused(t, { algorithm: 'RS256', publicKey: keyPair('RS256').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().replace('PRIVATE', 'PUBLIC') }, 'publicKey', 'a mangled PEM')
  await refused(t, { algorithm: 'RS256', privateKey: JSON.parse(JSON.stringify(keyPair('RS256').privateKey.export({ format: 'jwk' }))) }, 'privateKey', 'a JWK object (keys are PEM, Buffer or KeyObject)')
  await refused(t, { algorithm: 'RS256', privateKey: '' }, 'privateKey', 'an empty private key')
  await refused(t, { algorithm: 'RS256', publicKey: Buffer.alloc(0) }, 'publicKey', 'an empty public key')
})

t.test('lifetimes, leeway and timeouts that do not parse are refused, never dropped', async t => {
  for (const bad of ['1e3', '0x10', '15mm', '1.5.2m', ' ', 'NaN', 'Infinity', '-0', '0', '15 m s', '∞', '1_000', '+5m', Number.MAX_VALUE, -0.5, Number.NaN, Number.POSITIVE_INFINITY, 200 * 31557600]) {
    await refused(t, { secret: SECRET, accessTokenExpires: bad }, 'accessTokenExpires', `accessTokenExpires ${JSON.stringify(bad)}`)
    await refused(t, { secret: SECRET, refreshTokenExpires: bad }, 'refreshTokenExpires', `refreshTokenExpires ${JSON.stringify(bad)}`)
  }
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -1, 86401, '30']) await refused(t, { secret: SECRET, leeway: bad }, 'leeway', `leeway ${JSON.stringify(bad)}`)
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 0, -5, 60001, '200']) await refused(t, { secret: SECRET, storeTimeout: bad }, 'storeTimeout', `storeTimeout ${JSON.stringify(bad)}`)
  for (const bad of [Number.POSITIVE_INFINITY, 63, 100.5, Number.NaN]) await refused(t, { secret: SECRET, maxTokenLength: bad }, 'maxTokenLength', `maxTokenLength ${JSON.stringify(bad)}`)
  // (a union option: the error names the union, `rotation`)
  await refused(t, { secret: SECRET, rotation: { reuseGraceSeconds: -1 } }, 'rotation', 'negative grace')
  await refused(t, { secret: SECRET, rotation: { reuseGraceSeconds: Number.POSITIVE_INFINITY } }, 'rotation', 'infinite grace')
})

t.test('cookies: SameSite=None needs Secure in every spelling; header type cannot inject (RFC 6265bis §4.1.2.7, RFC 9110 §5.5)', async t => {
  await refused(t, { secret: SECRET, cookies: { sameSite: 'none', secure: false } }, 'cookies.sameSite', 'none without Secure')
  for (const spelling of ['None', 'NONE', ' none', 'none ']) {
    await refused(t, { secret: SECRET, cookies: { sameSite: spelling, secure: false } }, 'cookies.sameSite', `sameSite ${JSON.stringify(spelling)}`)
  }
  for (const type of ['Bearer\r\nX-Injected: 1', 'Bearer ', 'Bea rer', 'Bearer\u0000']) {
    await refused(t, { secret: SECRET, header: { type } }, 'header.type', `header.type ${JSON.stringify(type)}`)
  }
  await refused(t, { secret: SECRET, jwksRoute: 'no-leading-slash' }, 'jwksRoute', 'a jwksRoute that is not a path')
})

t.test('identityClaim cannot be a claim the plugin owns (README "Making tokens", registered claims; lib/options.ts normalise(), lib/signer.ts createIssue())', async t => {
  // With identityClaim 'type', `{ [identityClaim]: sub, type, ... }` keeps type: every user's identity
  // becomes 'access' / 'refresh' (revokeAllSessions('access') logs everyone out, getSubject gets 'access').
  // With 'jti' the subject is lost; with 'exp' no token can be made. Refuse them at register time.
  for (const claim of ['type', 'jti', 'iat', 'nbf', 'exp', 'fresh', 'csrf', 'scopes', 'iss', 'aud', 'fam']) {
    await refused(t, { secret: SECRET, identityClaim: claim }, 'identityClaim', `identityClaim ${claim}`)
  }
  t.equal(await registerError({ secret: SECRET, identityClaim: 'uid' }), undefined, 'an app claim is fine')
})

// Hardening beyond the PEM and JWK spellings: a public key as raw DER bytes, or as the base64 of
// its DER (a PEM body without the armour), is just as public (the GHSA-c2ff-88x2-x9pg family).
t.test('DER bytes of a public key as an HMAC secret', async t => {
  await refused(t, { secret: rsaPub.export({ type: 'spki', format: 'der' }) }, 'secret', 'SPKI DER Buffer')
  await refused(t, { secret: rsaPub.export({ type: 'pkcs1', format: 'der' }) }, 'secret', 'PKCS#1 DER Buffer')
  await refused(t, { secret: (rsaPub.export({ type: 'spki', format: 'der' })).toString('base64') }, 'secret', 'SPKI DER as base64 text')
  await refused(t, { secret: (rsaPub.export({ type: 'spki', format: 'der' })).toString('base64url') }, 'secret', 'SPKI DER as base64url text')
  t.equal(await registerError({ secret: Buffer.from('a'.repeat(48)) }), undefined, 'an ordinary Buffer secret is fine')
  t.equal(await registerError({ secret: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=' }), undefined, 'an ordinary base64 secret is fine')
})
