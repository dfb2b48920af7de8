import type { SessionRecord, TokenRef, TokenStatus, TokenStore } from './types'
import { badArgument } from '../errors'
import { ALL_CLEAR } from './types'

/** Entries of each kind examined per write: expired entries are swept a few times faster than they arrive. */
const SWEEP_STEP = 4

const ALL_CLEAR_PROMISE = Promise.resolve(ALL_CLEAR)

export interface MemoryStoreOptions {
  /** The clock entries expire by: milliseconds since the epoch (default `Date.now`). The plugin's default store uses its `now` option. */
  now?: () => number
}

/**
 * The in-process store, the default: for one app instance (use RedisStore for several).
 *
 * Bounded: every entry lives until the token or session it names would expire, and each call sweeps a
 * few entries, reads included (no timer, nothing keeps the process alive). Compact: an entry is one Map
 * entry (key → expiry in whole seconds), about 78 bytes for a revoked jti (bench/store-memory.js).
 * `status()` may return a shared frozen object: read it, never mutate it.
 */
export class MemoryStore implements TokenStore {
  readonly #now: () => number
  readonly #revoked = new ExpiringSet()
  readonly #families = new ExpiringSet()
  readonly #cutoffs = new ExpiringMap<number>()
  readonly #used = new ExpiringMap<number>()
  /** sub → its latest mint time: a later cut-off covers what was minted then */
  readonly #minted = new ExpiringMap<number>()
  readonly #familySubjects = new ExpiringMap<string>()
  /** sub → fam → record (our own copies) */
  readonly #sessions = new Map<string, Map<string, SessionRecord>>()
  readonly #sessionSweep = new Cursor(this.#sessions, (sub, records, now) => this.#prune(sub, records, now))
  readonly #expiring = [this.#revoked, this.#families, this.#cutoffs, this.#used, this.#minted, this.#familySubjects]
  /** which kind of entry the next read sweeps: reads sweep one kind each, writes every kind */
  #readSweep = 0

  constructor (options: MemoryStoreOptions = {}) {
    if (options.now !== undefined && typeof options.now !== 'function') throw badArgument('MemoryStore: now must be a function')
    this.#now = options.now ?? Date.now
  }

  /** Entries held, including expired ones not swept yet: for tests and monitoring. */
  get size (): number {
    let sessions = 0
    for (const records of this.#sessions.values()) sessions += records.size
    return this.#revoked.size + this.#families.size + this.#cutoffs.size + this.#used.size +
      this.#minted.size + this.#familySubjects.size + sessions
  }

  /**
   * On every guarded request: no await, and the shared answer when the store knows nothing of the token.
   * The (sub, id) key strings are its one allocation (none while the store holds no entry of that kind):
   * per-subject maps would avoid them, but a million revoked jtis of as many subjects would then take
   * 300 MB instead of 75.
   */
  status (ref: TokenRef): Promise<TokenStatus> {
    const status = this.#read(ref)
    return status === ALL_CLEAR ? ALL_CLEAR_PROMISE : Promise.resolve(status)
  }

  /** `status()` without the promise (the store contract's optional synchronous read): a guard needs no await for it. */
  statusNow (ref: TokenRef): TokenStatus {
    return this.#read(ref)
  }

  #read (ref: TokenRef): TokenStatus {
    const now = this.#now()
    // Reads sweep too (one kind per call, a few entries): memory stays bounded while traffic only reads.
    const kind = this.#readSweep
    if (kind < this.#expiring.length) this.#expiring[kind].sweep(now)
    else this.#sessionSweep.step(now)
    this.#readSweep = kind === this.#expiring.length ? 0 : kind + 1
    return this.#status(ref, now)
  }

  #status (ref: TokenRef, now: number): TokenStatus {
    // A kind of entry the store holds none of is not looked up: no key is built for it.
    const key = this.#revoked.size > 0 || this.#used.size > 0 ? keyOf(ref.sub, ref.jti) : ''
    const revoked = key !== '' && this.#revoked.size > 0 && this.#revoked.has(key, now)
    const familyRevoked = ref.fam !== undefined && this.#families.size > 0 && this.#families.has(keyOf(ref.sub, ref.fam), now)
    const revokedBefore = this.#cutoffs.size > 0 ? this.#cutoffs.get(ref.sub, now) ?? 0 : 0
    const consumedAt = key !== '' && this.#used.size > 0 ? this.#used.get(key, now) ?? 0 : 0
    if (!revoked && !familyRevoked && revokedBefore === 0 && consumedAt === 0) return ALL_CLEAR
    return { revoked, familyRevoked, revokedBefore, consumedAt }
  }

  async revokeToken (ref: TokenRef, ttlSeconds: number): Promise<void> {
    const now = this.#write()
    this.#revoked.add(keyOf(ref.sub, ref.jti), now + ttlSeconds * 1000)
  }

  async revokeFamily (sub: string, fam: string, ttlSeconds: number): Promise<void> {
    const now = this.#write()
    this.#families.add(keyOf(sub, fam), now + ttlSeconds * 1000)
    const records = this.#sessions.get(sub)
    if (records !== undefined && records.delete(fam) && records.size === 0) this.#sessions.delete(sub)
  }

  async revokeAllSessions (sub: string, beforeMs: number, ttlSeconds: number): Promise<number> {
    const now = this.#write()
    const before = Math.max(beforeMs, this.#cutoffs.get(sub, now) ?? 0, this.#minted.get(sub, now) ?? 0)
    this.#cutoffs.set(sub, before, now + ttlSeconds * 1000)
    this.#sessions.delete(sub)
    return before
  }

  async redeem (ref: TokenRef, atMs: number, ttlSeconds: number, familyTtlSeconds: number): Promise<TokenStatus> {
    const now = this.#write()
    const status = this.#status(ref, now)
    const familyUntil = now + familyTtlSeconds * 1000
    if (status.consumedAt === 0) this.#used.set(keyOf(ref.sub, ref.jti), atMs, now + ttlSeconds * 1000)
    this.#mint(ref.sub, atMs, familyUntil, now)
    if (ref.fam !== undefined) this.#familySubjects.set(ref.fam, ref.sub, familyUntil)
    return status
  }

  async recordFamily (sub: string, fam: string, ttlSeconds: number, atMs: number): Promise<void> {
    const now = this.#write()
    this.#familySubjects.set(fam, sub, now + ttlSeconds * 1000)
    this.#mint(sub, atMs, now + ttlSeconds * 1000, now)
  }

  /** The subject's latest mint time, never moved back. */
  #mint (sub: string, atMs: number, until: number, now: number): void {
    this.#minted.set(sub, Math.max(atMs, this.#minted.get(sub, now) ?? 0), until)
  }

  /** A revoked family's session is not recorded again: a session that ended stays ended. */
  async saveSession (sub: string, record: SessionRecord): Promise<void> {
    const now = this.#write()
    this.#familySubjects.set(record.fam, sub, record.expiresAt)
    this.#mint(sub, record.createdAt, record.expiresAt, now)
    if (this.#families.has(keyOf(sub, record.fam), now)) return
    let records = this.#sessions.get(sub)
    if (records === undefined) this.#sessions.set(sub, records = new Map())
    records.set(record.fam, copySession(record))
  }

  async touchSession (sub: string, fam: string, lastUsedAt: number, expiresAt: number): Promise<void> {
    const now = this.#write()
    const record = this.#sessions.get(sub)?.get(fam)
    if (record === undefined || record.expiresAt <= now) return
    record.lastUsedAt = lastUsedAt
    record.expiresAt = expiresAt
    this.#familySubjects.set(fam, sub, expiresAt)
  }

  async listSessions (sub: string): Promise<SessionRecord[]> {
    const records = this.#sessions.get(sub)
    if (records === undefined) return []
    this.#prune(sub, records, this.#now())
    return Array.from(records.values(), copySession).sort((a, b) => a.createdAt - b.createdAt)
  }

  async familySubject (fam: string): Promise<string | null> {
    return this.#familySubjects.get(fam, this.#now()) ?? null
  }

  /** Every write sweeps a few entries of every kind: amortised, and nothing grows while writes go on. */
  #write (): number {
    const now = this.#now()
    for (const entries of this.#expiring) entries.sweep(now)
    this.#sessionSweep.step(now)
    return now
  }

  #prune (sub: string, records: Map<string, SessionRecord>, now: number): void {
    for (const [fam, record] of records) if (record.expiresAt <= now) records.delete(fam)
    if (records.size === 0) this.#sessions.delete(sub)
  }
}

/**
 * Keys that live until a time: one Map entry each (key → expiry), no object per entry. The expiry is kept
 * in whole seconds, rounded up (an entry may outlive its time by under a second, as with Redis `EX`): an
 * integer V8 stores inline (a small integer) rather than as a 16-byte heap number.
 */
class ExpiringSet {
  protected readonly expiries = new Map<string, number>()
  /** No entry expires before this (seconds): until then a sweep has nothing to find and costs one compare. */
  #earliest = Infinity
  /** The sweep's place in the Map, and the earliest expiry it has met since its pass began. */
  #cursor: Iterator<[string, number]> | undefined
  #passEarliest = Infinity

  get size (): number {
    return this.expiries.size
  }

  has (key: string, now: number): boolean {
    const expiresAt = this.expiries.get(key)
    return expiresAt !== undefined && expiresAt * 1000 > now
  }

  /** Keeps `key` until `expiresAt` (ms), or longer if it already lives longer: an entry's life is never shortened. */
  add (key: string, expiresAt: number): void {
    const seconds = inSeconds(expiresAt)
    const old = this.expiries.get(key)
    if (old === undefined || old < seconds) this.expiries.set(flat(key), seconds)
    if (seconds < this.#earliest) this.#earliest = seconds
  }

  /**
   * Visits a few entries, resuming where the last call stopped, and deletes the expired ones. A full pass
   * learns the earliest expiry left (entries added meanwhile are met too: a Map iterates them last), so no
   * entry is visited again before something can have expired.
   */
  sweep (now: number): void {
    if (this.#earliest * 1000 > now || this.expiries.size === 0) return
    for (let i = 0; i < SWEEP_STEP; i++) {
      if (this.#cursor === undefined) {
        this.#cursor = this.expiries.entries()
        this.#passEarliest = Infinity
      }
      const next = this.#cursor.next()
      if (next.done === true) {
        this.#cursor = undefined
        this.#earliest = this.#passEarliest
        return
      }
      const [key, expiresAt] = next.value
      if (expiresAt * 1000 <= now) this.delete(key)
      else if (expiresAt < this.#passEarliest) this.#passEarliest = expiresAt
    }
  }

  delete (key: string): void {
    this.expiries.delete(key)
  }
}

/** Whole seconds since the epoch, rounded up; a small integer (31 bits) until 2038, a plain number after. */
function inSeconds (ms: number): number {
  const seconds = Math.ceil(ms / 1000)
  return seconds <= 0x7fffffff ? seconds | 0 : seconds
}

/** Expiring keys that carry a value (a second Map, so that plain keys stay one entry). */
class ExpiringMap<V> extends ExpiringSet {
  readonly #values = new Map<string, V>()

  get (key: string, now: number): V | undefined {
    return this.has(key, now) ? this.#values.get(key) : undefined
  }

  set (key: string, value: V, expiresAt: number): void {
    key = flat(key)
    this.#values.set(key, value)
    this.add(key, expiresAt)
  }

  override delete (key: string): void {
    super.delete(key)
    this.#values.delete(key)
  }
}

/** Visits a few entries of a Map per call, resuming where it stopped: the session records' sweep, no timer. */
class Cursor<V> {
  readonly #map: Map<string, V>
  readonly #visit: (key: string, value: V, now: number) => void
  #entries: Iterator<[string, V]> | undefined

  constructor (map: Map<string, V>, visit: (key: string, value: V, now: number) => void) {
    this.#map = map
    this.#visit = visit
  }

  step (now: number): void {
    if (this.#map.size === 0) return
    for (let i = 0; i < SWEEP_STEP; i++) {
      this.#entries ??= this.#map.entries()
      const next = this.#entries.next()
      if (next.done === true) {
        this.#entries = undefined
        return
      }
      this.#visit(next.value[0], next.value[1], now)
    }
  }
}

/**
 * One key for a (subject, id) pair, injective whatever they contain. An id spelled as a lowercase UUID (every
 * jti and family the plugin makes) is packed into its 16 bytes behind a \u0001 mark: a revoked jti then
 * takes 17 characters plus the subject instead of 36 plus the subject and its length. Any other id is
 * written out behind the subject's length, and such keys start with a digit, never with the mark.
 */
function keyOf (sub: string, id: string): string {
  const packed = packUuid(id)
  return packed === undefined ? `${sub.length}:${sub}${id}` : packed + sub
}

/**
 * The byte two lowercase hex digits spell, by their two char codes (`a << 8 | b`); -1 for any other pair.
 * Lowercase only: 'A' and 'a' must not give the same key. 128 KB, one lookup per byte.
 */
const HEX_PAIR = new Int16Array(65536).fill(-1)
for (let hi = 0; hi < 16; hi++) {
  for (let lo = 0; lo < 16; lo++) HEX_PAIR[('0123456789abcdef'.charCodeAt(hi) << 8) | '0123456789abcdef'.charCodeAt(lo)] = (hi << 4) | lo
}

/** The byte at `at`; -1 when the two characters there are not lowercase hex digits (or not one-byte at all). */
function hexByte (id: string, at: number): number {
  const hi = id.charCodeAt(at)
  const lo = id.charCodeAt(at + 1)
  return (hi | lo) < 256 ? HEX_PAIR[(hi << 8) | lo] : -1
}

/** The mark and the 16 bytes of a lowercase 8-4-4-4-12 UUID, one character each; undefined for any other string. */
function packUuid (id: string): string | undefined {
  if (id.length !== 36 || id.charCodeAt(8) !== 45 || id.charCodeAt(13) !== 45 || id.charCodeAt(18) !== 45 || id.charCodeAt(23) !== 45) return undefined
  const b0 = hexByte(id, 0); const b1 = hexByte(id, 2); const b2 = hexByte(id, 4); const b3 = hexByte(id, 6)
  const b4 = hexByte(id, 9); const b5 = hexByte(id, 11); const b6 = hexByte(id, 14); const b7 = hexByte(id, 16)
  const b8 = hexByte(id, 19); const b9 = hexByte(id, 21); const b10 = hexByte(id, 24); const b11 = hexByte(id, 26)
  const b12 = hexByte(id, 28); const b13 = hexByte(id, 30); const b14 = hexByte(id, 32); const b15 = hexByte(id, 34)
  if ((b0 | b1 | b2 | b3 | b4 | b5 | b6 | b7 | b8 | b9 | b10 | b11 | b12 | b13 | b14 | b15) < 0) return undefined
  return String.fromCharCode(1, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15)
}

/**
 * V8 keeps a concatenated string as a rope holding on to its parts; reading a character flattens it into
 * one string, and the GC then drops the parts: 118 bytes a revoked jti instead of 221 (bench/store-memory.js).
 */
function flat (key: string): string {
  key.charCodeAt(0)
  return key
}

/** Exactly the record's fields, without undefined optional ones, so that callers never share our copy. */
function copySession (record: SessionRecord): SessionRecord {
  const copy: SessionRecord = {
    fam: record.fam,
    createdAt: record.createdAt,
    lastUsedAt: record.lastUsedAt,
    expiresAt: record.expiresAt
  }
  if (record.userAgent !== undefined) copy.userAgent = record.userAgent
  if (record.ip !== undefined) copy.ip = record.ip
  return copy
}
