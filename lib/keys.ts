import { createHash, createPrivateKey, createPublicKey, KeyObject, type JsonWebKey } from 'node:crypto'
import { badOptions } from './errors'
import { ALGORITHMS, type AlgorithmName, type AuthxOptions, type PreviousSecret } from './options'

/** A key tokens may be verified with: current first, then the previous ones. */
export interface VerifyKey {
  /** `kid` tokens signed with this key carry; undefined for HMAC keys without `keyId` */
  kid?: string
  /** what @fastify/jwt gets: the HMAC secret, or a public key as SPKI PEM */
  key: string | Buffer
  /** the allowed algorithms this key can verify */
  algorithms: AlgorithmName[]
  /** the public JWK (asymmetric keys only) */
  jwk?: JsonWebKey
}

export interface KeySet {
  algorithm: AlgorithmName
  hmac: boolean
  /** the signing key (HMAC secret or PKCS#8 PEM), absent on a verify-only instance */
  signingKey?: string | Buffer
  /** `kid` written into new tokens */
  kid?: string
  verifyKeys: VerifyKey[]
  /** `jwksUrl` instances: no configured key; these algorithms are allowed for the fetched ones */
  remoteAlgorithms?: AlgorithmName[]
}

const HMAC = new Set(['HS256', 'HS384', 'HS512'])
const KNOWN = new Set<string>(ALGORITHMS)
const CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' }

/** Whether an asymmetric key of this type can verify `alg`. */
export function fits (key: KeyObject, alg: string): boolean {
  const type = key.asymmetricKeyType
  if (alg.startsWith('RS')) return type === 'rsa'
  if (alg.startsWith('PS')) return type === 'rsa' || type === 'rsa-pss'
  if (alg.startsWith('ES')) return type === 'ec' && key.asymmetricKeyDetails?.namedCurve === CURVES[alg]
  if (alg === 'EdDSA') return type === 'ed25519' || type === 'ed448'
  return false
}

/** RFC 7638 thumbprint: SHA-256 over the required members, in lexicographic order. */
export function thumbprint (jwk: JsonWebKey): string {
  const members = jwk.kty === 'RSA'
    ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
    : jwk.kty === 'EC'
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
      : { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

/** Whether these bytes parse as a DER key (SPKI, PKCS#1 or PKCS#8): a key is never an HMAC secret. */
function isDerKey (bytes: Buffer): boolean {
  if (bytes.length < 32 || bytes[0] !== 0x30) return false
  const attempts: Array<() => unknown> = [
    () => createPublicKey({ key: bytes, format: 'der', type: 'spki' }),
    () => createPublicKey({ key: bytes, format: 'der', type: 'pkcs1' }),
    () => createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' })
  ]
  return attempts.some(attempt => { try { attempt(); return true } catch { return false } })
}

// Invisible characters a file or a copy-paste may put before a key: BOM, zero-width, controls.
const INVISIBLE = /[\s\u0000-\u001f\u007f\u00a0\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff]/g

/**
 * Refuses what must never be an HMAC secret: empty, or anything that is a key in another spelling
 * (PEM anywhere in it, a JWK or JWKS, DER bytes or their base64), whatever invisible characters
 * surround it. Each was an algorithm-confusion advisory somewhere (fast-jwt GHSA-c2ff-88x2-x9pg,
 * GHSA-mvf2-f6gm-w987, GHSA-ww5h-9m49-7xx4, GHSA-g3jj-5cmm-3hxx).
 */
function checkSecret (secret: unknown, path: string, warn: (msg: string) => void): string | Buffer {
  if (typeof secret !== 'string' && !Buffer.isBuffer(secret)) throw badOptions(path, 'a non-empty string or Buffer')
  const text = secret.toString('utf8')
  if (text.length === 0) throw badOptions(path, 'a non-empty string or Buffer')
  if (text.includes('-----BEGIN')) throw badOptions(path, 'an HMAC secret, not a PEM key (use privateKey/publicKey)')
  const visible = text.replace(INVISIBLE, '')
  if (/"kty"\s*:/.test(visible) || /^[{[]/.test(visible)) {
    let parsed: unknown
    try { parsed = JSON.parse(visible) } catch { parsed = undefined }
    if ((parsed !== null && typeof parsed === 'object') || visible.includes('"kty"')) {
      throw badOptions(path, 'an HMAC secret, not a JWK or JWKS (use privateKey/publicKey)')
    }
  }
  const der = Buffer.isBuffer(secret) ? secret : /^[A-Za-z0-9+/_-]+={0,2}$/.test(visible) ? Buffer.from(visible, 'base64') : undefined
  if (der !== undefined && isDerKey(der)) throw badOptions(path, 'an HMAC secret, not a DER key (use privateKey/publicKey)')
  if (Buffer.byteLength(secret) < 32) warn(`fastify-authx: ${path} is shorter than 32 bytes; use at least 32 random bytes`)
  return secret
}

function toKey (input: unknown, kind: 'private' | 'public', path: string): KeyObject {
  try {
    if (input instanceof KeyObject) {
      if (input.type === 'private' && kind === 'public') return createPublicKey(input)
      if (input.type === kind) return input
    } else if (typeof input === 'string' || Buffer.isBuffer(input)) {
      return kind === 'private' ? createPrivateKey(input) : createPublicKey(input)
    }
  } catch {}
  throw badOptions(path, `a ${kind} key as a PEM string, Buffer or KeyObject`)
}

function asymmetric (key: KeyObject, path: string, algorithms: AlgorithmName[]): VerifyKey {
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw badOptions(path, 'an RSA key of at least 2048 bits')
  }
  const usable = algorithms.filter(a => fits(key, a))
  if (usable.length === 0) throw badOptions(path, `a key for one of ${algorithms.join(', ')}`)
  const jwk = key.export({ format: 'jwk' })
  return { kid: thumbprint(jwk), key: key.export({ type: 'spki', format: 'pem' }) as string, algorithms: usable, jwk }
}

/** Loads and checks every key once, at register time. */
export function loadKeys (o: AuthxOptions, warn: (msg: string) => void): KeySet {
  if (o.jwksUrl !== undefined) return remoteOnly(o)
  const algorithm = o.algorithm ?? 'HS256'
  const hmac = HMAC.has(algorithm)
  const decode = (o.decodeAlgorithms ?? [algorithm]) as AlgorithmName[]
  for (const a of decode as string[]) {
    if (!KNOWN.has(a)) throw badOptions('decodeAlgorithms', a.toLowerCase() === 'none' ? '\'none\' is never accepted' : `known algorithms only (${[...KNOWN].join(', ')})`)
    if (HMAC.has(a) !== hmac) throw badOptions('decodeAlgorithms', 'HMAC and asymmetric algorithms must not be mixed')
  }
  if (!decode.includes(algorithm)) throw badOptions('decodeAlgorithms', `to include the signing algorithm ${algorithm}`)

  if (hmac) {
    if (o.privateKey !== undefined || o.publicKey !== undefined || o.previousPublicKeys !== undefined) {
      throw badOptions('privateKey', `no asymmetric keys with ${algorithm} (an HMAC algorithm)`)
    }
    if (o.jwksRoute !== undefined) throw badOptions('jwksRoute', 'an asymmetric algorithm (HMAC keys are never published)')
    if (o.secret === undefined) throw badOptions('secret', `a non-empty string or Buffer for ${algorithm}`)
    const secret = checkSecret(o.secret, 'secret', warn)
    const previous = o.previousSecret === undefined ? [] : Array.isArray(o.previousSecret) ? o.previousSecret : [o.previousSecret]
    const verifyKeys: VerifyKey[] = [{ kid: o.keyId, key: secret, algorithms: decode }]
    previous.forEach((p, i) => {
      const entry: PreviousSecret = p !== null && typeof p === 'object' && !Buffer.isBuffer(p) ? p : { secret: p }
      const path = `previousSecret${Array.isArray(o.previousSecret) ? `.${i}` : ''}`
      verifyKeys.push({ kid: entry.keyId, key: checkSecret(entry.secret, path, warn), algorithms: decode })
    })
    return { algorithm, hmac, signingKey: secret, kid: o.keyId, verifyKeys }
  }

  if (o.secret !== undefined || o.previousSecret !== undefined) {
    throw badOptions('secret', `no HMAC secret with ${algorithm} (use privateKey/publicKey)`)
  }
  if (o.privateKey === undefined && o.publicKey === undefined) {
    throw badOptions('privateKey', `privateKey (to sign) and/or publicKey (to verify) for ${algorithm}`)
  }
  let signingKey: string | undefined
  let current: VerifyKey
  if (o.privateKey !== undefined) {
    const priv = toKey(o.privateKey, 'private', 'privateKey')
    if (!fits(priv, algorithm)) throw badOptions('privateKey', `a key for ${algorithm}`)
    current = asymmetric(createPublicKey(priv), 'privateKey', decode)
    if (o.publicKey !== undefined && asymmetric(toKey(o.publicKey, 'public', 'publicKey'), 'publicKey', decode).kid !== current.kid) {
      throw badOptions('publicKey', 'the public half of privateKey')
    }
    signingKey = priv.export({ type: 'pkcs8', format: 'pem' }) as string
  } else {
    current = asymmetric(toKey(o.publicKey, 'public', 'publicKey'), 'publicKey', decode)
  }
  if (o.keyId !== undefined) current.kid = o.keyId
  // The published `alg` of the current key is the one it signs with.
  current.algorithms = [algorithm, ...current.algorithms.filter(a => a !== algorithm)]
  const verifyKeys = [current]
  ;(o.previousPublicKeys ?? []).forEach((k, i) => {
    verifyKeys.push(asymmetric(toKey(k, 'public', `previousPublicKeys.${i}`), `previousPublicKeys.${i}`, decode))
  })
  return { algorithm, hmac, signingKey, kid: current.kid, verifyKeys }
}

const NOT_WITH_JWKS_URL = ['secret', 'previousSecret', 'privateKey', 'publicKey', 'previousPublicKeys', 'keyId', 'jwksRoute', 'implicitRefresh'] as const

/**
 * A `jwksUrl` instance verifies only, with the keys it fetches: no key of its own, nothing that signs
 * (implicit refresh would), and asymmetric algorithms named up front (never taken from a JWK alone).
 */
function remoteOnly (o: AuthxOptions): KeySet {
  for (const name of NOT_WITH_JWKS_URL) {
    if (o[name] !== undefined && !(name === 'implicitRefresh' && o[name] === false)) {
      throw badOptions(name, 'nothing with jwksUrl (a jwksUrl instance only verifies, with the keys it fetches)')
    }
  }
  if (o.decodeAlgorithms === undefined) throw badOptions('decodeAlgorithms', 'the asymmetric algorithms the issuer signs with (required with jwksUrl)')
  const decode = o.decodeAlgorithms as AlgorithmName[]
  for (const a of decode as string[]) {
    if (!KNOWN.has(a)) throw badOptions('decodeAlgorithms', a.toLowerCase() === 'none' ? '\'none\' is never accepted' : `known algorithms only (${[...KNOWN].join(', ')})`)
    if (HMAC.has(a)) throw badOptions('decodeAlgorithms', 'asymmetric algorithms only with jwksUrl (HMAC keys are never published)')
  }
  if (o.algorithm !== undefined && !decode.includes(o.algorithm)) throw badOptions('algorithm', 'one of decodeAlgorithms (or none: a jwksUrl instance does not sign)')
  return { algorithm: o.algorithm ?? decode[0], hmac: false, verifyKeys: [], remoteAlgorithms: decode }
}

/** The public keys as a JWKS document (`{ keys: [] }` for HMAC). */
export function jwks (keys: KeySet): { keys: JsonWebKey[] } {
  return {
    keys: keys.verifyKeys.filter(k => k.jwk !== undefined).map(k => ({ ...k.jwk, kid: k.kid, alg: k.algorithms[0], use: 'sig' }))
  }
}
