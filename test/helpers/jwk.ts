import { createHash } from 'node:crypto'

/** The members RFC 7638 §3.2 requires per key type (RFC 8037 §2 for OKP: Ed25519, Ed448). */
const REQUIRED: Record<string, string[]> = { RSA: ['e', 'kty', 'n'], EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'] }

/**
 * A JWK's RFC 7638 thumbprint, computed independently of lib/keys.ts: the required members only, in
 * lexicographic order, as JSON without whitespace (§3.1-3.3), hashed with SHA-256, base64url.
 */
export function rfc7638 (jwk: { kty?: string, [member: string]: unknown }): string {
  const members = REQUIRED[String(jwk.kty)]
  if (members === undefined) throw new Error(`no RFC 7638 members for kty ${String(jwk.kty)}`)
  const json = `{${members.map(m => `${JSON.stringify(m)}:${JSON.stringify(jwk[m])}`).join(',')}}`
  return createHash('sha256').update(json, 'utf8').digest('base64url')
}
