import { cloneValue, setClaim } from './claims'

/** One cached verification: the exact token, its claims, and which claims hold objects or arrays. */
interface Entry {
  token: string
  claims: Record<string, any>
  /** the claims a copy must copy deeply (objects, arrays); undefined when every claim is a primitive */
  nested: string[] | undefined
}

/** Characters of a token's end its cache key holds: the tail of its signature. */
const KEY_LENGTH = 32

/**
 * `verifyCache`: verified tokens, so a token seen again skips decoding and the HMAC/signature check.
 * Keyed by the last 32 characters of the token (the end of its signature: hashing 32 characters instead
 * of the whole token, as fast-jwt's cache hashes it with SHA-256, is what makes a hit cheap), and a hit
 * counts only when the whole token is the very same string: any other spelling of a token, or another
 * token with the same end, is a miss and is verified in full. Only successes are cached. Revocation is
 * not cached: the guard still asks the store on every request. Bounded: the oldest entry leaves when it
 * is full.
 */
export class VerifyCache {
  readonly #entries = new Map<string, Entry>()
  readonly #size: number
  readonly #leewayMs: number
  readonly #now: () => number

  constructor (size: number, leewaySeconds: number, now: () => number) {
    this.#size = size
    this.#leewayMs = leewaySeconds * 1000
    this.#now = now
  }

  /** A private copy of the cached claims; undefined on a miss; 'expired' once `exp` (plus leeway) is past. */
  get (token: string): Record<string, any> | 'expired' | undefined {
    const key = keyOf(token)
    const entry = this.#entries.get(key)
    if (entry === undefined || entry.token !== token) return undefined
    const { claims, nested } = entry
    if (typeof claims.exp === 'number' && this.#now() >= claims.exp * 1000 + this.#leewayMs) {
      this.#entries.delete(key)
      return 'expired'
    }
    // A copy: a handler that pushes a scope or sets a claim must not change what the next request sees.
    // Spread copies own data properties as data (a `__proto__` claim stays a claim); nested values are
    // copied deeply.
    const copy = { ...claims }
    if (nested !== undefined) for (const name of nested) setClaim(copy, name, cloneValue(claims[name]))
    return copy
  }

  /** Keeps verified claims (the caller hands its own object over and keeps none of it). */
  set (token: string, claims: Record<string, any>): void {
    const key = keyOf(token)
    if (!this.#entries.has(key) && this.#entries.size >= this.#size) this.#entries.delete(this.#entries.keys().next().value as string)
    let nested: string[] | undefined
    for (const name of Object.keys(claims)) {
      const value = claims[name]
      if (value !== null && typeof value === 'object') (nested ??= []).push(name)
    }
    this.#entries.set(key, { token, claims, nested })
  }
}

function keyOf (token: string): string {
  return token.length > KEY_LENGTH ? token.slice(-KEY_LENGTH) : token
}
