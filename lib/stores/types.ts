/**
 * The storage contract behind revocation, rotation and sessions.
 *
 * Stores hold facts; the plugin decides. Every method names the subject so that a store can keep
 * everything about one subject together (RedisStore puts the subject in a hash tag, `authx:{<sub>}:…`,
 * so a guarded request's check and a rotation's atomic step each touch one Redis Cluster slot).
 * Every entry carries a time to live: it is kept until the token or session it names would expire.
 * Times are milliseconds since the epoch unless the name says seconds.
 */

/** A verified token, as far as the store needs to know it. */
export interface TokenRef {
  /** the subject (the `identityClaim` value) */
  sub: string
  /** the token's id: revocation is keyed on it, never on the encoded string */
  jti: string
  /** the token's session family, when it has one */
  fam?: string
}

/** What the store knows of one token, read in one round trip. */
export interface TokenStatus {
  /** `revokeToken` named this token's jti */
  revoked: boolean
  /** `revokeFamily` named this token's family */
  familyRevoked: boolean
  /** `revokeAllSessions` cut-off for the subject: tokens issued at or before it are revoked; 0 when none */
  revokedBefore: number
  /** when `redeem` first marked this token used (something was minted from it); 0 when never */
  consumedAt: number
}

/** The answer for a token the store knows nothing about: shared and frozen, so read it, never mutate it. */
export const ALL_CLEAR: TokenStatus = Object.freeze({ revoked: false, familyRevoked: false, revokedBefore: 0, consumedAt: 0 })

/** One session: a token family and what was recorded when it began. */
export interface SessionRecord {
  fam: string
  createdAt: number
  lastUsedAt: number
  /** when the session ends unless it is used again (its latest refresh token's expiry) */
  expiresAt: number
  userAgent?: string
  ip?: string
}

export interface TokenStore {
  /** Everything a guard needs about a token, in one round trip. */
  status (ref: TokenRef): Promise<TokenStatus>
  /**
   * Optional: `status` answered synchronously, for a store that holds its state in this process
   * (MemoryStore). When a store has it, guards call it instead of `status` and need no promise and no
   * timer, and the plugin relies on the store's writes having taken effect by the time they return (it
   * does not wait on them before answering). A throw, or an answer of the wrong shape, fails closed (503).
   */
  statusNow? (ref: TokenRef): TokenStatus
  /** Revoke one token (by jti) for `ttlSeconds`. */
  revokeToken (ref: TokenRef, ttlSeconds: number): Promise<void>
  /** Revoke a whole family for `ttlSeconds` and forget its session record. */
  revokeFamily (sub: string, fam: string, ttlSeconds: number): Promise<void>
  /**
   * Revoke every token of `sub` issued at or before the cut-off, and forget all its sessions. The cut-off
   * is the latest of `beforeMs`, the cut-off already stored, and the subject's latest mint time (recorded
   * by `redeem`, `recordFamily` and `saveSession`), so that what was minted before the revocation is
   * covered whichever instance's clock dated it. Resolves to the cut-off now in force.
   */
  revokeAllSessions (sub: string, beforeMs: number, ttlSeconds: number): Promise<number>
  /**
   * The step before anything is minted from a token (rotation, implicit refresh), atomically across
   * every client of the store: reads the token's status, marks it used unless it already is, and records
   * `atMs` as the subject's latest mint time (never moving it back) and `ref.fam → sub` (see `familySubject`).
   * Returns the status as it was before this call: `consumedAt` is 0 when this call made the mark.
   * The mark lives `ttlSeconds`; the mint time and family record live `familyTtlSeconds`.
   */
  redeem (ref: TokenRef, atMs: number, ttlSeconds: number, familyTtlSeconds: number): Promise<TokenStatus>
  /**
   * Record `fam → sub` for `ttlSeconds` (never shortening it), so that `revokeFamily` by id finds it, and
   * `atMs` (when the family's first pair was minted) as the subject's latest mint time.
   */
  recordFamily (sub: string, fam: string, ttlSeconds: number, atMs: number): Promise<void>
  /** Record (or replace) a session; also records `fam → sub` and `record.createdAt` as the subject's latest mint time. Kept until `record.expiresAt`. */
  saveSession (sub: string, record: SessionRecord): Promise<void>
  /** Update a live session's `lastUsedAt` and `expiresAt`; a session that is gone stays gone. */
  touchSession (sub: string, fam: string, lastUsedAt: number, expiresAt: number): Promise<void>
  /** The live sessions of `sub` (not revoked, not expired), oldest first. */
  listSessions (sub: string): Promise<SessionRecord[]>
  /** The subject a family belongs to, as recorded by `recordFamily`, `saveSession` or `redeem`; null when unknown. */
  familySubject (fam: string): Promise<string | null>
  /** Release connections the store opened itself. */
  close? (): Promise<void>
  /** Problems with how the store is set up (RedisStore: a client that would queue without bound); the plugin warns of each at register time. */
  warnings? (): string[]
}
