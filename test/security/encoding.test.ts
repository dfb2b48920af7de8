/**
 * Attack class 2: the compact serialisation itself.
 * Sources: RFC 7515 §2 (base64url without padding), §3.1 / §7.1 (compact serialisation: exactly three
 * segments), §7.2 (JSON serialisation, which a bearer-token API does not take), RFC 4648 §3.3 / §3.5
 * (non-alphabet characters, canonical encoding), RFC 7516 §7.1 (five-part JWE), RFC 8725 §2.5 / §3.11;
 * fast-jwt 6.2.3 strict base64url hardening (SECURITY.md "Dependency floor"); ECDSA signature malleability (RFC 7518 §3.4,
 * CVE-2022-21449 "psychic signatures" as the reference case for a malformed (r, s)).
 */
import { sign as cryptoSign } from 'node:crypto'
import t, { type Test } from 'tap'
import { keyPair } from '../helpers/app'
import { LOCATIONS, SECRET, b64, carry, claims, expectAccepted, expectRefused, harness, hs, jws, signature, type Harness, type Location } from './helpers'

const INVALID = 'FST_AUTHX_INVALID_TOKEN'
// 400 is a correct answer too where a header value is malformed (RFC 6750 §3.1 invalid_request)
const REFUSED = { status: [400, 401] }

async function refusedEverywhere (t: Test, h: Harness, token: string, label: string, locations: Location[] = LOCATIONS) {
  for (const location of locations) await expectRefused(t, h, carry(location, token), [token], { ...REFUSED, label: `${label} via ${location}` })
}

/** A fresh valid token whose segments each hold a '-' or '_' (so the standard-alphabet variant differs). */
function tokenWithUrlChars (): { token: string, jti: string } {
  for (;;) {
    const c = claims({ note: 'x'.repeat(Math.floor(Math.random() * 7)) + '?>~' })
    const token = hs(c)
    const [, p, s] = token.split('.')
    if (/[-_]/.test(p) && /[-_]/.test(s)) return { token, jti: c.jti as string }
  }
}

t.test('positive control', async t => {
  const h = await harness()
  for (const location of LOCATIONS) await expectAccepted(t, h, carry(location, tokenWithUrlChars().token))
  await h.close()
})

t.test('base64 padding on any segment, original or re-made signature (RFC 7515 §2, fast-jwt 6.2.3)', async t => {
  const h = await harness()
  const c = claims()
  const token = hs(c)
  const [hd, pl, sg] = token.split('.')
  for (const pad of ['=', '==', '===']) {
    // the signature still covers the unpadded input: a non-canonical spelling of a valid token
    await refusedEverywhere(t, h, `${hd}${pad}.${pl}.${sg}`, `header padded with ${pad}`)
    await refusedEverywhere(t, h, `${hd}.${pl}${pad}.${sg}`, `payload padded with ${pad}`)
    await refusedEverywhere(t, h, `${hd}.${pl}.${sg}${pad}`, `signature padded with ${pad}`)
    // the signature made over the padded input (what a lenient signer would produce)
    const input = `${hd}${pad}.${pl}${pad}`
    await refusedEverywhere(t, h, `${input}.${signature('HS256', input, SECRET)}`, `padded, re-signed with ${pad}`)
  }
  await h.close()
})

t.test('standard base64 alphabet (+ and /) instead of base64url (RFC 4648 §5, RFC 7515 §2)', async t => {
  const h = await harness()
  const { token } = tokenWithUrlChars()
  const std = (s: string) => s.replace(/-/g, '+').replace(/_/g, '/')
  const [hd, pl, sg] = token.split('.')
  await refusedEverywhere(t, h, `${hd}.${std(pl)}.${sg}`, 'payload in standard base64')
  await refusedEverywhere(t, h, `${hd}.${pl}.${std(sg)}`, 'signature in standard base64')
  await refusedEverywhere(t, h, `${hd}.${std(pl)}.${std(sg)}`, 'payload and signature in standard base64')
  const input = `${hd}.${std(pl)}`
  await refusedEverywhere(t, h, `${input}.${signature('HS256', input, SECRET)}`, 'standard-alphabet payload, re-signed')
  await h.close()
})

t.test('whitespace inside and around segments (RFC 4648 §3.3, RFC 7515 §7.1)', async t => {
  const h = await harness()
  const { token, jti } = tokenWithUrlChars()
  const [hd, pl, sg] = token.split('.')
  const inside: Array<[string, string]> = []
  for (const [name, ws] of [['space', ' '], ['tab', '\t'], ['newline', '\n'], ['CRLF', '\r\n'], ['NBSP', '\u00a0'], ['zero-width space', '\u200b']] as const) {
    inside.push([`${name} inside the header`, `${hd.slice(0, 5)}${ws}${hd.slice(5)}.${pl}.${sg}`])
    inside.push([`${name} inside the payload`, `${hd}.${pl.slice(0, 9)}${ws}${pl.slice(9)}.${sg}`])
    inside.push([`${name} inside the signature`, `${hd}.${pl}.${sg.slice(0, 7)}${ws}${sg.slice(7)}`])
    inside.push([`${name} before a dot`, `${hd}${ws}.${pl}.${sg}`])
    inside.push([`${name} after a dot`, `${hd}.${ws}${pl}.${sg}`])
  }
  for (const [what, variant] of inside) {
    // A raw CR/LF or non-Latin-1 character cannot travel in an HTTP header or cookie at all (Node's
    // parser refuses it with 400 before any app code): those reach us only through query and JSON.
    const wire = /[\r\n\u0100-\uffff]/.test(variant) ? ['query', 'json'] as Location[] : LOCATIONS
    await refusedEverywhere(t, h, variant, what, wire)
  }
  // Around the token: a header's or cookie's optional whitespace is not part of the value (RFC 9110 §5.5,
  // RFC 6265 §5.2), so those may accept the very same token; query and JSON must refuse it.
  const around: string[] = [` ${token}`, `${token} `, `\t${token}`, `${token}\t`]
  let acceptedAround = 0
  for (const variant of around) {
    for (const location of LOCATIONS) {
      const expect = location === 'headers' || location === 'cookies' ? { ...REFUSED, orSameJti: jti } : REFUSED
      const res = await expectRefused(t, h, carry(location, variant), [variant], { ...expect, label: `${JSON.stringify(variant.slice(0, 2))}… via ${location}` })
      if (res.statusCode === 200) acceptedAround++
    }
  }
  if (acceptedAround > 0) {
    await h.app.authx.revokeToken(token)
    for (const variant of around) {
      for (const location of ['headers', 'cookies'] as Location[]) {
        await expectRefused(t, h, carry(location, variant), [variant], { code: 'FST_AUTHX_REVOKED_TOKEN', label: `revoked: whitespace-wrapped via ${location}` })
      }
    }
  }
  await h.close()
})

t.test('segment counts and empty segments (RFC 7515 §7.1, RFC 7516 §7.1)', async t => {
  const h = await harness()
  const token = hs(claims())
  const [hd, pl, sg] = token.split('.')
  const shapes: Array<[string, string]> = [
    ['one segment (header)', hd],
    ['one segment (payload)', pl],
    ['two segments', `${hd}.${pl}`],
    ['two segments, trailing dot', `${hd}.${pl}.`],
    ['four segments', `${hd}.${pl}.${sg}.${sg}`],
    ['four segments, trailing dot', `${token}.`],
    ['leading dot', `.${token}`],
    ['empty header', `.${pl}.${sg}`],
    ['empty payload', `${hd}..${sg}`],
    ['only dots', '..'],
    ['four dots', '....'],
    ['a single dot', '.'],
    ['payload and signature swapped', `${hd}.${sg}.${pl}`],
    ['header and payload swapped', `${pl}.${hd}.${sg}`],
    ['header repeated', `${hd}.${hd}.${sg}`],
    ['five segments: JWE dir/A256GCM', `${b64({ alg: 'dir', enc: 'A256GCM' })}..${b64('iv-iv-iv-iv')}.${pl}.${b64('tag-tag-tag-tag!')}`],
    ['five segments: JWE RSA-OAEP', `${b64({ alg: 'RSA-OAEP', enc: 'A128GCM' })}.${sg}.${b64('iv')}.${pl}.${sg}`],
    ['five segments: JWE-shaped with alg HS256', `${hd}.${sg}.${pl}.${pl}.${sg}`],
    ['five segments: a JWS with two extra parts', `${hd}.${pl}.${sg}.${hd}.${sg}`]
  ]
  for (const [what, variant] of shapes) await refusedEverywhere(t, h, variant, what)
  await h.close()
})

t.test('JSON-serialised JWS instead of the compact form (RFC 7515 §7.2)', async t => {
  const h = await harness()
  const token = hs(claims())
  const [hd, pl, sg] = token.split('.')
  const flattened = JSON.stringify({ payload: pl, protected: hd, signature: sg })
  const general = JSON.stringify({ payload: pl, signatures: [{ protected: hd, signature: sg }] })
  for (const [what, text] of [['flattened', flattened], ['general', general]]) {
    // as a string in every location (a header refuses the comma-separated value with 400)
    for (const location of ['headers', 'query', 'json'] as Location[]) {
      await expectRefused(t, h, carry(location, text), [token], { ...REFUSED, label: `${what} JSON JWS via ${location}` })
    }
    await expectRefused(t, h, { method: 'GET', url: '/access', headers: { cookie: `access_token_cookie=${encodeURIComponent(text)}` } }, [token], { ...REFUSED, label: `${what} JSON JWS via cookies` })
    // as a JSON object instead of a string in the body
    await expectRefused(t, h, { method: 'POST', url: '/access', headers: { 'content-type': 'application/json' }, payload: `{"access_token":${text}}` }, [token], { code: INVALID, label: `${what} JSON JWS as a JSON object` })
  }
  await h.close()
})

/** The base64url characters whose value keeps the top `keep` bits of `c` (c itself included). */
function sameHighBits (c: string, unused: number): string[] {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const v = alphabet.indexOf(c)
  const out: string[] = []
  for (let low = 0; low < 1 << unused; low++) out.push(alphabet[(v & ~((1 << unused) - 1)) | low])
  return out
}

t.test('non-canonical signature spellings: unused trailing bits (RFC 4648 §3.5): refused, or the same token (revocation keyed on jti still applies)', async t => {
  for (const [alg, unused] of [['HS256', 2], ['HS512', 4]] as const) {
    const h = await harness({ secret: SECRET, algorithm: alg })
    const c = claims()
    const token = jws({ alg, typ: 'JWT' }, c, SECRET)
    const last = token.slice(-1)
    const variants = sameHighBits(last, unused).filter(x => x !== last).map(x => token.slice(0, -1) + x)
    t.equal(variants.length, (1 << unused) - 1, `${alg}: ${variants.length} non-canonical spellings decode to the same signature bytes`)
    for (const v of variants) t.same(Buffer.from(v.split('.')[2], 'base64url'), Buffer.from(token.split('.')[2], 'base64url'))
    const accepted: Array<[string, Location]> = []
    for (const v of variants) {
      for (const location of LOCATIONS) {
        const res = await expectRefused(t, h, carry(location, v), [v], { orSameJti: c.jti as string, label: `${alg} …${v.slice(-1)} via ${location}` })
        if (res.statusCode === 200) accepted.push([v, location])
      }
    }
    t.comment(`${alg}: ${accepted.length} of ${variants.length * LOCATIONS.length} non-canonical requests accepted as the same token`)
    await h.app.authx.revokeToken(token)
    for (const [v, location] of accepted) {
      await expectRefused(t, h, carry(location, v), [v], { code: 'FST_AUTHX_REVOKED_TOKEN', label: `revoked original, variant …${v.slice(-1)} via ${location}` })
    }
    // flipping a used bit is a different signature
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const flipped = token.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ (1 << unused)]
    await refusedEverywhere(t, h, flipped, `${alg}: a used bit of the last character flipped`)
    await h.close()
  }
})

// P-256 group order (SEC 2 §2.4.2)
const P256_N = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551')
const toBytes = (n: bigint, len: number) => Buffer.from(n.toString(16).padStart(len * 2, '0'), 'hex')

t.test('ES256 signature malleability: DER vs raw, high-S, zero and overlong r/s (RFC 7518 §3.4, CVE-2022-21449)', async t => {
  const { privateKey } = keyPair('ES256')
  const h = await harness({ algorithm: 'ES256', privateKey })
  const c = claims()
  const token = jws({ alg: 'ES256', typ: 'JWT' }, c, privateKey)
  const [hd, pl, sg] = token.split('.')
  const input = `${hd}.${pl}`
  await expectAccepted(t, h, carry('headers', token), 'control')
  const raw = Buffer.from(sg, 'base64url')
  const r = raw.subarray(0, 32)
  const s = BigInt('0x' + raw.subarray(32).toString('hex'))
  const der = cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'der' })
  const refused: Array<[string, Buffer]> = [
    ['DER-encoded signature', der],
    ['r = 0, s = 0 (CVE-2022-21449)', Buffer.alloc(64)],
    ['r = n, s = n', Buffer.concat([toBytes(P256_N, 32), toBytes(P256_N, 32)])],
    ['65 bytes: a leading zero', Buffer.concat([Buffer.alloc(1), raw])],
    ['63 bytes: truncated', raw.subarray(0, 63)],
    ['s + n (overlong)', Buffer.concat([r, toBytes(s + P256_N, 33)])],
    ['r and s swapped', Buffer.concat([raw.subarray(32), r])]
  ]
  for (const [what, sig] of refused) await refusedEverywhere(t, h, `${input}.${sig.toString('base64url')}`, what)

  // High-S: (r, n - s) is mathematically valid ECDSA; JOSE does not require low-S. Either refused, or
  // accepted as the very same claims, and revoking the original must hold for it (keyed on jti).
  const highS = `${input}.${Buffer.concat([r, toBytes(P256_N - s, 32)]).toString('base64url')}`
  t.not(highS, token)
  const accepted: Location[] = []
  for (const location of LOCATIONS) {
    const res = await expectRefused(t, h, carry(location, highS), [highS], { orSameJti: c.jti as string, label: `high-S via ${location}` })
    if (res.statusCode === 200) accepted.push(location)
  }
  t.comment(`high-S variant accepted in ${accepted.length} of ${LOCATIONS.length} locations (as the same token)`)
  await h.app.authx.revokeToken(token)
  for (const location of accepted) {
    await expectRefused(t, h, carry(location, highS), [highS], { code: 'FST_AUTHX_REVOKED_TOKEN', label: `high-S after revoking the original via ${location}` })
  }
  // and revoking the high-S spelling revokes the original spelling too
  const c2 = claims()
  const t2 = jws({ alg: 'ES256', typ: 'JWT' }, c2, privateKey)
  const raw2 = Buffer.from(t2.split('.')[2], 'base64url')
  const s2 = BigInt('0x' + raw2.subarray(32).toString('hex'))
  const high2 = `${t2.split('.').slice(0, 2).join('.')}.${Buffer.concat([raw2.subarray(0, 32), toBytes(P256_N - s2, 32)]).toString('base64url')}`
  let verifies = true
  try { h.app.authx.verifyToken(high2) } catch { verifies = false }
  if (verifies) {
    await h.app.authx.revokeToken(high2)
    await expectRefused(t, h, carry('headers', t2), [t2], { code: 'FST_AUTHX_REVOKED_TOKEN', label: 'original after revoking its high-S spelling' })
  } else t.pass('the high-S spelling does not verify')
  await h.close()
})

t.test('RSA signature spellings: leading zero byte, truncation (RFC 8017 §8.2.2: length must equal k)', async t => {
  const { privateKey } = keyPair('RS256')
  const h = await harness({ algorithm: 'RS256', privateKey })
  const c = claims()
  const token = jws({ alg: 'RS256', typ: 'JWT' }, c, privateKey)
  const [hd, pl, sg] = token.split('.')
  const raw = Buffer.from(sg, 'base64url')
  for (const [what, sig] of [['leading zero byte', Buffer.concat([Buffer.alloc(1), raw])], ['last byte dropped', raw.subarray(0, -1)], ['doubled', Buffer.concat([raw, raw])]] as Array<[string, Buffer]>) {
    for (const location of LOCATIONS) {
      const v = `${hd}.${pl}.${sig.toString('base64url')}`
      await expectRefused(t, h, carry(location, v), [v], { orSameJti: c.jti as string, label: `RS256 ${what} via ${location}` })
    }
  }
  await h.close()
})

t.test('unicode look-alikes of the separator and alphabet (RFC 7515 §7.1)', async t => {
  const h = await harness()
  const token = hs(claims())
  const variants: Array<[string, string]> = [
    ['ideographic full stop U+3002', token.replace('.', '\u3002')],
    ['fullwidth full stop U+FF0E', token.replace('.', '\uff0e')],
    ['one-dot leader U+2024', token.replace('.', '\u2024')],
    ['fullwidth letter in the payload', token.replace(/[A-Za-z]/, ch => String.fromCharCode(ch.charCodeAt(0) + 0xfee0))]
  ]
  for (const [what, v] of variants) {
    // non-Latin-1 cannot travel in a header or cookie (Node refuses it before the app)
    await refusedEverywhere(t, h, v, what, /[\u0100-\uffff]/.test(v) ? ['query', 'json'] : LOCATIONS)
  }
  // A percent-encoded dot: cookie values are URI-decoded by @fastify/cookie (RFC 6265 leaves the
  // encoding to the application), so there it may be the very same token; elsewhere it is refused.
  const c = claims()
  const original = hs(c)
  const pct = original.replace('.', '%2E')
  for (const location of LOCATIONS) {
    await expectRefused(t, h, carry(location, pct), [pct, original], { ...REFUSED, orSameJti: location === 'cookies' ? c.jti as string : undefined, label: `percent-encoded dot via ${location}` })
  }
  await h.app.authx.revokeToken(original)
  await expectRefused(t, h, carry('cookies', pct), [pct], { code: 'FST_AUTHX_REVOKED_TOKEN', label: 'percent-encoded spelling after revoking the original, via cookies' })
  await h.close()
})
