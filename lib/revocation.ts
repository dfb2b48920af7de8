import { types } from 'node:util'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { authError, type AuthxError } from './errors'
import type { Config, TokenType } from './options'
import { MemoryStore } from './stores/memory'
import type { TokenRef, TokenStatus, TokenStore } from './stores/types'
import { issuedAt } from './tokens'

/**
 * The family a token belongs to: its `fam` claim, or else the one named after its own jti. Whatever is
 * minted from a token (rotation, implicit refresh) carries this family, so revoking it ends them too.
 */
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

/**
 * What is logged of a store failure: its class and message, never the error object. Drivers attach the
 * failed command to their errors (ioredis's `ReplyError.command.args`: keys, subjects, scripts, records).
 */
export function describeStoreError (cause: unknown): { type: string, message: string } {
  if (cause instanceof Error) return { type: cause.name, message: String(cause.message) }
  return { type: typeof cause, message: '' }
}

/** Logs a store failure: one error line, class and message. */
export function logStoreFailure (cause: unknown, log: FastifyBaseLogger): void {
  log.error({ storeError: describeStoreError(cause) }, 'fastify-authx: token store unavailable; failing closed')
}

/** Store failure → 503, with the cause logged and never sent. */
function unavailable (cause: unknown, log: FastifyBaseLogger): AuthxError {
  logStoreFailure(cause, log)
  return authError('FST_AUTHX_STORE_UNAVAILABLE')
}

/** A store answered something that is not an answer (a buggy custom store): 503 like any failure. */
export function storeAnswer (log: FastifyBaseLogger): AuthxError {
  return unavailable(new TypeError('fastify-authx: the store returned a malformed answer'), log)
}

/**
 * Runs a store call (or `isRevoked`) bounded by `storeTimeout`; any failure or timeout fails closed.
 * A synchronous answer skips the timer entirely (MemoryStore, a sync `isRevoked`).
 */
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

/**
 * The default store answers from memory and cannot hang: no timer on its paths. Only an exact
 * MemoryStore qualifies (not a subclass, not a Proxy around one); its errors still fail closed.
 */
export function isLocalStore (store: TokenStore): boolean {
  return Object.getPrototypeOf(store) === MemoryStore.prototype && !types.isProxy(store)
}

export interface Revocation {
  /** After every other check: store (token, family, subject, reuse) and `isRevoked`. Throws (or rejects) on failure. */
  check (request: FastifyRequest, payload: Record<string, any>, type: TokenType): Promise<void> | undefined
  /**
   * The atomic step before minting from a token: marks it used and re-checks it against every revocation
   * (token, family, subject cut-off) in one store call; with `rotating`, a second use past the grace window
   * is reuse. Resolves to the time the minted tokens must carry, so a cut-off written after this step
   * covers them; throws the refusal otherwise. With a request, `isRevoked` is asked again too.
   */
  redeem (payload: Record<string, any>, log: FastifyBaseLogger, rotating: boolean, request?: FastifyRequest): Promise<number>
  revokeToken (payload: Record<string, any>, log: FastifyBaseLogger): Promise<void>
  revokeFamily (sub: string, fam: string, log: FastifyBaseLogger): Promise<void>
  revokeAllSessions (sub: string, log: FastifyBaseLogger): Promise<void>
  /** seconds an entry about this token must be kept: until it would expire (leeway included) */
  ttlOf (payload: Record<string, any>): number
  /** seconds a family or subject entry must be kept: until the longest-lived token issued now would expire */
  longestTtl: number
}

/** Timer turns `revokeAllSessions` waits, at most, for the clock to move past its cut-off. */
const CLOCK_TURNS = 5

export function createRevocation (config: Config, store: TokenStore, bounded: Bounded): Revocation {
  const { identityClaim, isRevoked, leeway, rotation, lifetimes, now } = config
  const graceMs = rotation === false ? 0 : rotation.reuseGraceSeconds * 1000
  // Tokens without `exp` (lifetime false) are remembered for a year.
  const YEAR = 31557600
  const longestTtl = Math.max(lifetimes.access === false ? YEAR : lifetimes.access, lifetimes.refresh === false ? YEAR : lifetimes.refresh) + leeway + 1
  const local = isLocalStore(store)

  const refOf = (payload: Record<string, any>): TokenRef => ({ sub: payload[identityClaim], jti: payload.jti, fam: familyOf(payload) })

  function ttlOf (payload: Record<string, any>): number {
    if (typeof payload.exp !== 'number') return YEAR
    return Math.max(1, Math.ceil(payload.exp + leeway - now() / 1000))
  }

  /**
   * A second use of a consumed refresh token: with no grace window, any second use; otherwise one at
   * least `reuseGraceSeconds` after the first. The clock is read now, after the store answered, so a
   * late answer cannot make a stale first use look recent.
   */
  function isReuse (firstUse: number): boolean {
    return graceMs === 0 || now() - firstUse >= graceMs
  }

  function revokedBy (status: TokenStatus, payload: Record<string, any>): boolean {
    return status.revoked || status.familyRevoked || (status.revokedBefore > 0 && issuedAt(payload) <= status.revokedBefore)
  }

  async function revokeFamily (sub: string, fam: string, log: FastifyBaseLogger): Promise<void> {
    await bounded(() => store.revokeFamily(sub, fam, longestTtl), log)
  }

  /** Throws when the store says revoked; returns the pending family revocation when it says reused. */
  function judge (status: TokenStatus, ref: TokenRef, payload: Record<string, any>, rotating: boolean, log: FastifyBaseLogger): Promise<never> | undefined {
    if (revokedBy(status, payload)) throw authError('FST_AUTHX_REVOKED_TOKEN')
    if (!rotating || status.consumedAt === 0 || !isReuse(status.consumedAt)) return undefined
    // A rotated refresh token came back after the grace window: whoever holds the family is suspect.
    return revokeFamily(ref.sub, ref.fam as string, log).then(() => { throw authError('FST_AUTHX_REFRESH_TOKEN_REUSED') })
  }

  const rotatingType = (type: TokenType): boolean => type === 'refresh' && rotation !== false

  async function askIsRevoked (payload: Record<string, any>, request: FastifyRequest): Promise<void> {
    if (Boolean(await bounded(() => (isRevoked as NonNullable<typeof isRevoked>)(payload, request), request.log))) {
      throw authError('FST_AUTHX_REVOKED_TOKEN')
    }
  }

  async function checkRemote (request: FastifyRequest, ref: TokenRef, payload: Record<string, any>, type: TokenType): Promise<void> {
    const status = await bounded(() => store.status(ref), request.log)
    if (!wellFormed(status)) throw storeAnswer(request.log)
    await judge(status, ref, payload, rotatingType(type), request.log)
    if (isRevoked !== undefined) await askIsRevoked(payload, request)
  }

  /**
   * Synchronous when the answer is known at once (the MemoryStore said "all clear" and there is no
   * `isRevoked`): then it returns undefined and the guard needs no promise. Otherwise a promise.
   */
  function check (request: FastifyRequest, payload: Record<string, any>, type: TokenType): Promise<void> | undefined {
    const ref = refOf(payload)
    if (!local) return checkRemote(request, ref, payload, type)
    let status: TokenStatus
    try { status = (store as MemoryStore).statusNow(ref) } catch (err) { throw unavailable(err, request.log) }
    const reused = judge(status, ref, payload, rotatingType(type), request.log)
    if (reused !== undefined) return reused
    return isRevoked === undefined ? undefined : askIsRevoked(payload, request)
  }

  async function redeem (payload: Record<string, any>, log: FastifyBaseLogger, rotating: boolean, request?: FastifyRequest): Promise<number> {
    const ref = refOf(payload)
    const at = now()
    const status = await bounded(() => store.redeem(ref, at, ttlOf(payload), longestTtl), log)
    if (!wellFormed(status)) throw storeAnswer(log)
    await judge(status, ref, payload, rotating, log)
    if (request !== undefined && isRevoked !== undefined) await askIsRevoked(payload, request)
    return at
  }

  return {
    check,
    redeem,
    ttlOf,
    longestTtl,
    revokeFamily,
    async revokeToken (payload, log) {
      const ref = refOf(payload)
      await bounded(() => store.revokeToken(ref, ttlOf(payload)), log)
      // Something may already have been minted from it (a rotation, an implicit refresh, perhaps still in
      // flight): what was minted carries its family. A redeem that missed the revocation above came
      // before it, so this read, after it, sees its mark.
      const status = await bounded(() => store.status(ref), log)
      if (!wellFormed(status)) throw storeAnswer(log)
      if (status.consumedAt !== 0) await revokeFamily(ref.sub, ref.fam as string, log)
    },
    async revokeAllSessions (sub, log) {
      const answer = await bounded(() => store.revokeSubject(sub, now(), longestTtl), log)
      // Tokens issued at the cut-off's millisecond are revoked too; wait (a few ms at most) for the clock
      // to pass the cut-off in force, so that what this instance issues once this resolves is dated after it.
      const cutoff = Number.isFinite(answer) ? answer : 0
      for (let i = 0; i < CLOCK_TURNS && now() <= cutoff; i++) await new Promise(resolve => setTimeout(resolve, 1))
    }
  }
}
