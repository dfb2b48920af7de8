import { types } from 'node:util'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { authError, type AuthxError } from './errors'
import type { Config, TokenType } from './options'
import { MemoryStore } from './stores/memory'
import type { TokenRef, TokenStatus, TokenStore } from './stores/types'
import { issuedAt } from './tokens'

/** The family a refresh token's reuse ends: its own, or (made outside a pair) the one named after it. */
export function familyOf (payload: Record<string, any>): string {
  return typeof payload.fam === 'string' ? payload.fam : payload.jti
}

/** A store answer of the wrong shape is a failing store: fail closed rather than guess. */
function wellFormed (status: unknown): status is TokenStatus {
  if (status === null || typeof status !== 'object') return false
  const s = status as Record<string, unknown>
  return typeof s.revoked === 'boolean' && typeof s.familyRevoked === 'boolean' &&
    Number.isFinite(s.revokedBefore) && Number.isFinite(s.consumedAt)
}

/** Store failure → 503, with the cause logged and never sent. */
function unavailable (cause: unknown, log: FastifyBaseLogger): AuthxError {
  log.error({ err: cause }, 'fastify-authx: token store unavailable; request refused')
  return authError('FST_AUTHX_STORE_UNAVAILABLE')
}

/**
 * Runs a store call (or `isRevoked`) bounded by `storeTimeout`; any failure or timeout fails closed.
 * A synchronous answer skips the timer entirely (MemoryStore, a sync `isRevoked`).
 */
/** A store answered something that is not an answer (a buggy custom store): 503 like any failure. */
export function storeAnswer (log: FastifyBaseLogger): AuthxError {
  const cause = new TypeError('fastify-authx: the store returned a malformed answer')
  cause.stack = `${cause.name}: ${cause.message}` // where we noticed says nothing about the store
  return unavailable(cause, log)
}

export function createBounded (timeout: number) {
  return async function bounded<T> (call: () => T | Promise<T>, log: FastifyBaseLogger): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    try {
      const result = call()
      if (!(result instanceof Promise)) return result
      return await Promise.race([result, new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { reject(new Error(`fastify-authx: store call timed out after ${timeout} ms`)) }, timeout)
      })])
    } catch (err) {
      throw unavailable(err, log)
    } finally {
      if (timer !== undefined) clearTimeout(timer)
    }
  }
}

export type Bounded = ReturnType<typeof createBounded>

export interface Revocation {
  /** After every other check: store (token, family, subject, reuse) and `isRevoked`. Throws (or rejects) on failure. */
  check (request: FastifyRequest, payload: Record<string, any>, type: TokenType): Promise<void> | undefined
  revokeToken (payload: Record<string, any>, log: FastifyBaseLogger): Promise<void>
  revokeFamily (sub: string, fam: string, log: FastifyBaseLogger): Promise<void>
  revokeAllSessions (sub: string, log: FastifyBaseLogger): Promise<void>
  /** Whether a consumed refresh token, first used at `firstUse` (ms), is being reused. */
  isReuse (firstUse: number): boolean
  /** seconds an entry about this token must be kept: until it would expire (leeway included) */
  ttlOf (payload: Record<string, any>): number
  /** seconds a family or subject entry must be kept: until the longest-lived token issued now would expire */
  longestTtl: number
}

export function createRevocation (config: Config, store: TokenStore, bounded: Bounded): Revocation {
  const { identityClaim, isRevoked, leeway, rotation, lifetimes } = config
  const graceMs = rotation === false ? 0 : rotation.reuseGraceSeconds * 1000
  // Tokens without `exp` (lifetime false) are remembered for a year.
  const YEAR = 31557600
  const longestTtl = Math.max(lifetimes.access === false ? YEAR : lifetimes.access, lifetimes.refresh === false ? YEAR : lifetimes.refresh) + leeway + 1
  // The default store answers from memory and cannot hang: no timer on its hot path. Only an exact
  // MemoryStore qualifies (not a subclass, not a Proxy around one); its errors still fail closed.
  const local = Object.getPrototypeOf(store) === MemoryStore.prototype && !types.isProxy(store)

  function ttlOf (payload: Record<string, any>): number {
    if (typeof payload.exp !== 'number') return YEAR
    return Math.max(1, Math.ceil(payload.exp + leeway - Date.now() / 1000))
  }

  /**
   * A second use of a consumed refresh token: with no grace window, any second use; otherwise one at
   * least `reuseGraceSeconds` after the first. The clock is read now, after the store answered, so a
   * late answer cannot make a stale first use look recent.
   */
  function isReuse (firstUse: number): boolean {
    return graceMs === 0 || Date.now() - firstUse >= graceMs
  }

  function revokedBy (status: TokenStatus, payload: Record<string, any>): boolean {
    return status.revoked || status.familyRevoked || (status.revokedBefore > 0 && issuedAt(payload) <= status.revokedBefore)
  }

  async function revokeFamily (sub: string, fam: string, log: FastifyBaseLogger): Promise<void> {
    await bounded(() => store.revokeFamily(sub, fam, longestTtl), log)
  }

  /** Throws when the store says revoked; returns the pending family revocation when it says reused. */
  function judge (status: TokenStatus, ref: TokenRef, payload: Record<string, any>, type: TokenType, log: FastifyBaseLogger): Promise<never> | undefined {
    if (revokedBy(status, payload)) throw authError('FST_AUTHX_REVOKED_TOKEN')
    if (type !== 'refresh' || rotation === false || status.consumedAt === 0 || !isReuse(status.consumedAt)) return undefined
    // A rotated refresh token came back after the grace window: whoever holds the family is suspect.
    return revokeFamily(ref.sub, familyOf(payload), log).then(() => { throw authError('FST_AUTHX_REFRESH_TOKEN_REUSED') })
  }

  async function askIsRevoked (payload: Record<string, any>, request: FastifyRequest): Promise<void> {
    if (Boolean(await bounded(() => (isRevoked as NonNullable<typeof isRevoked>)(payload, request), request.log))) {
      throw authError('FST_AUTHX_REVOKED_TOKEN')
    }
  }

  async function checkRemote (request: FastifyRequest, ref: TokenRef, payload: Record<string, any>, type: TokenType): Promise<void> {
    const status = await bounded(() => store.status(ref), request.log)
    if (!wellFormed(status)) throw storeAnswer(request.log)
    await judge(status, ref, payload, type, request.log)
    if (isRevoked !== undefined) await askIsRevoked(payload, request)
  }

  /**
   * Synchronous when the answer is known at once (the MemoryStore said "all clear" and there is no
   * `isRevoked`): then it returns undefined and the guard needs no promise. Otherwise a promise.
   */
  function check (request: FastifyRequest, payload: Record<string, any>, type: TokenType): Promise<void> | undefined {
    const ref: TokenRef = { sub: payload[identityClaim], jti: payload.jti, fam: payload.fam }
    if (!local) return checkRemote(request, ref, payload, type)
    let status: TokenStatus
    try { status = (store as MemoryStore).statusNow(ref) } catch (err) { throw unavailable(err, request.log) }
    const reused = judge(status, ref, payload, type, request.log)
    if (reused !== undefined) return reused
    return isRevoked === undefined ? undefined : askIsRevoked(payload, request)
  }

  return {
    check,
    isReuse,
    ttlOf,
    longestTtl,
    revokeFamily,
    async revokeToken (payload, log) {
      await bounded(() => store.revokeToken({ sub: payload[identityClaim], jti: payload.jti, fam: payload.fam }, ttlOf(payload)), log)
    },
    async revokeAllSessions (sub, log) {
      await bounded(() => store.revokeSubject(sub, Date.now(), longestTtl), log)
    }
  }
}
