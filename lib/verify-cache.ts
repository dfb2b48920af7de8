import { cloneClaims } from './claims'

/**
 * `verifyCache`: verified tokens by their exact string, so a token seen again skips decoding and the
 * HMAC/signature check. Keyed by the string itself (a Map lookup) rather than by a hash of it, as
 * fast-jwt's cache is, because hashing every token costs half a verify. Only successes are cached; any
 * other spelling of a token is a different key and is verified in full. Revocation is not cached: the
 * guard still asks the store on every request. Bounded: the oldest entry leaves when it is full.
 */
export class VerifyCache {
  readonly #entries = new Map<string, Record<string, any>>()
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
    const claims = this.#entries.get(token)
    if (claims === undefined) return undefined
    if (typeof claims.exp === 'number' && this.#now() >= claims.exp * 1000 + this.#leewayMs) {
      this.#entries.delete(token)
      return 'expired'
    }
    // A deep copy: a handler that pushes a scope must not change what the next request sees.
    return cloneClaims(claims)
  }

  /** Keeps verified claims (the caller hands its own object over and keeps none of it). */
  set (token: string, claims: Record<string, any>): void {
    if (this.#entries.size >= this.#size) this.#entries.delete(this.#entries.keys().next().value as string)
    this.#entries.set(token, claims)
  }
}
