import { types } from 'node:util'
import type { FastifyBaseLogger } from 'fastify'
import { authError, badOptions, type AuthxError } from './errors'
import { MemoryStore } from './stores/memory'
import { ALL_CLEAR, type TokenRef, type TokenStatus, type TokenStore } from './stores/types'

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

/**
 * The store's synchronous read (TokenStore.statusNow), when the plugin may use it; else undefined, and
 * guards ask `status`. Not for a Proxy (its traps may answer `status` and `statusNow` differently), nor
 * for a MemoryStore whose `status` was replaced (a subclass method or field, an assignment) while its
 * `statusNow` is still MemoryStore's own: that read would answer without the override.
 */
export function syncReadOf (store: TokenStore): ((ref: TokenRef) => unknown) | undefined {
  if (types.isProxy(store)) return undefined
  const read = store.statusNow
  if (typeof read !== 'function') return undefined
  if (read === MemoryStore.prototype.statusNow && store.status !== MemoryStore.prototype.status) return undefined
  return read.bind(store)
}

/**
 * A store's answer as a status the plugin can judge, each field read once (a getter or Proxy cannot answer
 * two ways); undefined for an answer of the wrong shape, or one that throws when read: a failing store,
 * so the caller fails closed rather than guess. A promise where a synchronous answer was due is the wrong
 * shape too, and its rejection, if any, is handled here.
 */
export function statusOf (answer: unknown): TokenStatus | undefined {
  if (answer === ALL_CLEAR) return ALL_CLEAR // the common answer, known good: no field to look at
  try {
    if (answer === null || typeof answer !== 'object') return undefined
    if (answer instanceof Promise) {
      answer.then(undefined, () => {})
      return undefined
    }
    const s = answer as Record<string, unknown>
    const status = { revoked: s.revoked, familyRevoked: s.familyRevoked, revokedBefore: s.revokedBefore, consumedAt: s.consumedAt }
    if (typeof status.revoked !== 'boolean' || typeof status.familyRevoked !== 'boolean' ||
      !Number.isFinite(status.revokedBefore) || !Number.isFinite(status.consumedAt)) return undefined
    return status as TokenStatus
  } catch {
    return undefined
  }
}

/**
 * What is logged of a store failure: its class and message, never the error object. Drivers attach the
 * failed command to their errors (ioredis's `ReplyError.command.args`: keys, subjects, scripts, records),
 * and some messages quote it too (Redis: "unknown command 'evalsha', with args beginning with: …"), so
 * the message loses everything from "with args" on and every quoted value, and is kept short.
 */
export function describeStoreError (cause: unknown): { type: string, message: string } {
  try {
    if (!(cause instanceof Error)) return { type: typeof cause, message: '' }
    const name = String(cause.name)
    return { type: /^[A-Za-z][\w.]{0,63}$/.test(name) ? name : 'Error', message: sanitise(String(cause.message)) }
  } catch {
    // a message or name that throws when read (a getter, a revoked Proxy): nothing of it is logged
    return { type: 'Error', message: '' }
  }
}

const OPENING = new Set(['\'', '"', '`', '\u2018', '\u201c', '\u00ab', '\u2039'])
const CLOSING: Record<string, string> = { '\'': '\'', '"': '"', '`': '`', '\u2018': '\u2019', '\u201c': '\u201d', '\u00ab': '\u00bb', '\u2039': '\u203a' }

/**
 * The first line, without "with args …", every quoted value (a quote opens after a non-letter, so "can't"
 * is a word, not a quote; an unclosed one hides the rest), every {…} or […] group (nested too; an
 * unclosed one hides the rest), at most 160 characters.
 */
function sanitise (message: string): string {
  const text = message.split(/[\r\n\u2028\u2029\u0085]/, 1)[0].replace(/,?\s*with args[\s\S]*$/i, '')
  let out = ''
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '{' || c === '[') { if (depth++ === 0) out += '…'; continue }
    if (c === '}' || c === ']') { if (depth > 0) depth--; continue }
    if (depth > 0) continue
    if (OPENING.has(c) && (i === 0 || !/[\p{L}\p{N}]/u.test(text[i - 1]))) {
      const end = text.indexOf(CLOSING[c], i + 1)
      out += '…'
      if (end === -1) break
      i = end
      continue
    }
    out += c
  }
  return out.slice(0, 160)
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
