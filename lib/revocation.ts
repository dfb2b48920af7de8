import { types } from 'node:util'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { authError, type AuthxError } from './errors'
import type { Config, TokenType } from './options'
import { MemoryStore } from './stores/memory'
import type { TokenStatus, TokenStore } from './stores/types'
import { issuedAt } from './tokens'

const TIMEOUT = new Error('fastify-authx: store call timed out')

/** Store failure → 503, with the cause logged and never sent. */
function unavailable (cause: unknown, log: FastifyBaseLogger): AuthxError {
  log.error({ err: cause }, 'fastify-authx: token store unavailable; request refused')
  return authError('FST_AUTHX_STORE_UNAVAILABLE')
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
      return await Promise.race([result, new Promise<never>((_resolve, reject) => { timer = setTimeout(reject, timeout, TIMEOUT) })])
    } catch (err) {
      throw unavailable(err, log)
    } finally {
      if (timer !== undefined) clearTimeout(timer)
    }
  }
}

export type Bounded = ReturnType<typeof createBounded>

export interface Revocation {
  /** After every other check: store (token, family, subject, reuse) and `isRevoked`. Throws on failure. */
  check (request: FastifyRequest, payload: Record<string, any>, type: TokenType): Promise<void>
  revokeToken (payload: Record<string, any>, log: FastifyBaseLogger): Promise<void>
  revokeFamily (sub: string, fam: string, log: FastifyBaseLogger): Promise<void>
  revokeAllSessions (sub: string, log: FastifyBaseLogger): Promise<void>
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

  function revokedBy (status: TokenStatus, payload: Record<string, any>): boolean {
    return status.revoked || status.familyRevoked || (status.revokedBefore > 0 && issuedAt(payload) <= status.revokedBefore)
  }

  async function revokeFamily (sub: string, fam: string, log: FastifyBaseLogger): Promise<void> {
    await bounded(() => store.revokeFamily(sub, fam, longestTtl), log)
  }

  async function check (request: FastifyRequest, payload: Record<string, any>, type: TokenType): Promise<void> {
    const sub: string = payload[identityClaim]
    const ref = { sub, jti: payload.jti as string, fam: payload.fam as string | undefined }
    let status: TokenStatus
    if (local) {
      try { status = await store.status(ref) } catch (err) { throw unavailable(err, request.log) }
    } else status = await bounded(() => store.status(ref), request.log)
    if (revokedBy(status, payload)) throw authError('FST_AUTHX_REVOKED_TOKEN')
    if (type === 'refresh' && rotation !== false && status.consumedAt > 0 && Date.now() - status.consumedAt >= graceMs) {
      // A rotated refresh token came back after the grace window: whoever holds the family is suspect.
      if (ref.fam !== undefined) await revokeFamily(sub, ref.fam, request.log)
      else await bounded(() => store.revokeToken(ref, ttlOf(payload)), request.log)
      throw authError('FST_AUTHX_REFRESH_TOKEN_REUSED')
    }
    if (isRevoked !== undefined && Boolean(await bounded(() => isRevoked(payload, request), request.log))) {
      throw authError('FST_AUTHX_REVOKED_TOKEN')
    }
  }

  return {
    check,
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
