import type { FastifyBaseLogger } from 'fastify'
import { authError, badOptions, type AuthxError } from './errors'
import { MemoryStore } from './stores/memory'
import { ALL_CLEAR, type TokenStatus, type TokenStore } from './stores/types'

/**
 * Every call the plugin makes to a store goes through here: bounded in time, failures logged without
 * their details and answered 503, answers of the wrong shape treated as failures. Fail closed.
 */

const STORE_METHODS = ['status', 'revokeToken', 'revokeFamily', 'revokeAllSessions', 'redeem', 'recordFamily', 'saveSession', 'touchSession', 'listSessions', 'familySubject'] as const

/** The `store` option: a MemoryStore on the plugin's clock by default, or a checked `TokenStore`. */
export function storeOf (store: unknown, now: () => number): TokenStore {
  if (store === undefined) return new MemoryStore({ now })
  if (store === null || typeof store !== 'object' || STORE_METHODS.some(m => typeof (store as Record<string, unknown>)[m] !== 'function') ||
    ((store as TokenStore).statusNow !== undefined && typeof (store as TokenStore).statusNow !== 'function')) {
    throw badOptions('store', `a TokenStore (with ${STORE_METHODS.join(', ')})`)
  }
  return store as TokenStore
}

/** A store answer of the wrong shape is a failing store: fail closed rather than guess. */
export function wellFormed (status: unknown): status is TokenStatus {
  if (status === ALL_CLEAR) return true // the common answer, known good: no field to look at
  if (status === null || typeof status !== 'object') return false
  const s = status as Record<string, unknown>
  return typeof s.revoked === 'boolean' && typeof s.familyRevoked === 'boolean' &&
    Number.isFinite(s.revokedBefore) && Number.isFinite(s.consumedAt)
}

/**
 * What is logged of a store failure: its class and message, never the error object. Drivers attach the
 * failed command to their errors (ioredis's `ReplyError.command.args`: keys, subjects, scripts, records),
 * and some messages quote it too (Redis: "unknown command 'evalsha', with args beginning with: …"), so
 * the message loses everything from "with args" on and every quoted value, and is kept short.
 */
export function describeStoreError (cause: unknown): { type: string, message: string } {
  if (!(cause instanceof Error)) return { type: typeof cause, message: '' }
  const message = String(cause.message).split(/\r?\n/, 1)[0]
    .replace(/,?\s*with args[\s\S]*$/i, '')
    .replace(/'[^']*'|"[^"]*"|`[^`]*`|\{[^}]*\}/g, '…')
    .slice(0, 160)
  return { type: cause.name, message }
}

/** Logs a store failure: one error line, class and message. */
export function logStoreFailure (cause: unknown, log: FastifyBaseLogger): void {
  log.error({ storeError: describeStoreError(cause) }, 'fastify-authx: token store unavailable; failing closed')
}

/** Store failure → 503, with the cause logged and never sent. */
export function unavailable (cause: unknown, log: FastifyBaseLogger): AuthxError {
  logStoreFailure(cause, log)
  return authError('FST_AUTHX_STORE_UNAVAILABLE')
}

/** A store answered something that is not an answer (a buggy custom store): 503 like any failure. */
export function storeAnswer (log: FastifyBaseLogger): AuthxError {
  return unavailable(new TypeError('fastify-authx: the store returned a malformed answer'), log)
}

/**
 * Runs a store call (or `isRevoked`) bounded by `storeTimeout`; any failure or timeout fails closed.
 * A synchronous answer skips the timer entirely (a sync `isRevoked`).
 */
export function createBounded (timeout: number) {
  return async function bounded<T> (call: () => T | Promise<T>, log: FastifyBaseLogger): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    try {
      const result = call()
      // Any thenable is bounded (a store's own promise library, another realm's Promise), not only ours.
      if (typeof (result as { then?: unknown } | null)?.then !== 'function') return result
      return await Promise.race([Promise.resolve(result), new Promise<never>((_resolve, reject) => {
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
