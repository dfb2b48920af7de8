import type { SessionRecord, TokenRef, TokenStatus, TokenStore } from './types.js'
import { badArgument, errors } from '../errors'

/**
 * The part of an ioredis `Redis` or `Cluster` client the store uses. Declared here so that the
 * package's types never import ioredis (an optional peer): apps without it still type-check.
 */
export interface RedisClient {
  defineCommand (name: string, definition: { numberOfKeys: number, lua: string }): void
  mget (keys: string[]): Promise<Array<string | null>>
  get (key: string): Promise<string | null>
  quit (): Promise<unknown>
  disconnect (): void
  readonly status: string
}

export type RedisStoreOptions = ({ client: RedisClient, url?: undefined } | { url: string, client?: undefined }) & {
  /** prepended to every key; default 'authx:' */
  prefix?: string
  /** the clock sessions expire by: milliseconds since the epoch (default `Date.now`); give it the plugin's `now` */
  now?: () => number
}

/** The answer for a token Redis knows nothing about: shared and frozen, so read it, never mutate it. */
const ALL_CLEAR: TokenStatus = Object.freeze({ revoked: false, familyRevoked: false, revokedBefore: 0, consumedAt: 0 })

/** Sets a key, never shortening its life, so that a later, shorter revocation cannot undo an earlier one. */
const PUT = `local function put (key, value, ttl)
  local left = redis.call('PTTL', key)
  if left > ttl then ttl = left end
  redis.call('SET', key, value, 'PX', ttl)
end
`

/** Keeps the later of a stored time and `at`, for at least `ttl` ms more (the subject's latest mint time). */
const LATER = `local function later (key, at, ttl)
  local old = redis.call('GET', key)
  if old and tonumber(old) > tonumber(at) then at = old end
  put(key, at, ttl)
end
`

/** Makes a key live at least `ttl` ms more (a new key has no TTL yet: PTTL answers -1). */
const EXTEND = `local function extend (key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
`

/**
 * Every script touches only keys passed in KEYS (so a client's keyPrefix applies), all of one subject
 * (so they share a Cluster slot). Times are the app's clock, sent in ARGV, as the records hold them.
 */
const SCRIPTS = {
  // KEYS: key. ARGV: value, ttl ms
  authxPut: { numberOfKeys: 1, lua: PUT + "put(KEYS[1], ARGV[1], tonumber(ARGV[2]))" },
  // KEYS: family tombstone, sessions. ARGV: fam, ttl ms
  authxRevokeFamily: {
    numberOfKeys: 2,
    lua: PUT + "put(KEYS[1], '1', tonumber(ARGV[2]))\nredis.call('HDEL', KEYS[2], ARGV[1])"
  },
  // KEYS: cut-off, sessions, latest mint. ARGV: cut-off ms, ttl ms. Keeps the latest of the three times and returns it.
  authxRevokeSubject: {
    numberOfKeys: 3,
    lua: PUT + `local before = ARGV[1]
for _, key in ipairs({ KEYS[1], KEYS[3] }) do
  local t = redis.call('GET', key)
  if t and tonumber(t) > tonumber(before) then before = t end
end
put(KEYS[1], before, tonumber(ARGV[2]))
redis.call('DEL', KEYS[2])
return before`
  },
  // KEYS: revoked jti, used mark, cut-off, family tombstone, latest mint. ARGV: at ms, ttl ms, family ttl ms,
  // '1' when the token has a family. Returns the status before the call: revoked, family revoked, cut-off, first use.
  authxRedeem: {
    numberOfKeys: 5,
    lua: PUT + LATER + `local revoked = redis.call('EXISTS', KEYS[1])
local familyRevoked = 0
if ARGV[4] == '1' then familyRevoked = redis.call('EXISTS', KEYS[4]) end
local cutoff = redis.call('GET', KEYS[3]) or '0'
local first = redis.call('GET', KEYS[2])
if not first then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  first = '0'
end
later(KEYS[5], ARGV[1], tonumber(ARGV[3]))
return { revoked, familyRevoked, cutoff, first }`
  },
  // KEYS: latest mint. ARGV: at ms, ttl ms.
  authxMinted: { numberOfKeys: 1, lua: PUT + LATER + 'later(KEYS[1], ARGV[1], tonumber(ARGV[2]))' },
  // KEYS: sessions, family tombstone, latest mint. ARGV: fam, record JSON, ms it has left, createdAt.
  authxSaveSession: {
    numberOfKeys: 3,
    lua: EXTEND + PUT + LATER + `later(KEYS[3], ARGV[4], math.max(1, tonumber(ARGV[3])))
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local ttl = tonumber(ARGV[3])
if ttl <= 0 then return redis.call('HDEL', KEYS[1], ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
extend(KEYS[1], ttl)
return 1`
  },
  // KEYS: sessions. ARGV: fam, lastUsedAt, expiresAt, now. Only a live session is updated: gone stays gone.
  authxTouchSession: {
    numberOfKeys: 1,
    lua: EXTEND + `local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return 0 end
local record = cjson.decode(json)
local now = tonumber(ARGV[4])
if record.expiresAt <= now then return 0 end
record.lastUsedAt = tonumber(ARGV[2])
record.expiresAt = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
extend(KEYS[1], record.expiresAt - now)
return 1`
  },
  // KEYS: sessions. ARGV: now. Returns the live records' JSON and deletes the expired ones.
  authxListSessions: {
    numberOfKeys: 1,
    lua: `local now = tonumber(ARGV[1])
local fields = redis.call('HGETALL', KEYS[1])
local live = {}
for i = 1, #fields, 2 do
  if cjson.decode(fields[i + 1]).expiresAt > now then live[#live + 1] = fields[i + 1]
  else redis.call('HDEL', KEYS[1], fields[i]) end
end
return live`
  }
} as const

/** What defineCommand adds to the client. */
interface Scripts {
  authxPut (key: string, value: string, ttlMs: number): Promise<null>
  authxRevokeFamily (tombstone: string, sessions: string, fam: string, ttlMs: number): Promise<null>
  authxRevokeSubject (cutoff: string, sessions: string, minted: string, beforeMs: number, ttlMs: number): Promise<string>
  authxRedeem (jti: string, used: string, cutoff: string, family: string, minted: string,
    atMs: number, ttlMs: number, familyTtlMs: number, hasFamily: '0' | '1'): Promise<[number, number, string, string]>
  authxMinted (minted: string, atMs: number, ttlMs: number): Promise<null>
  authxSaveSession (sessions: string, tombstone: string, minted: string, fam: string, json: string, msLeft: number, createdAt: number): Promise<number>
  authxTouchSession (sessions: string, fam: string, lastUsedAt: number, expiresAt: number, now: number): Promise<number>
  authxListSessions (sessions: string, now: number): Promise<string[]>
}

/**
 * A store in Redis, shared by every app instance: `new RedisStore({ client })` over an ioredis Redis or
 * Cluster client you own (close() leaves it open), or `new RedisStore({ url })` (the store's own client).
 *
 * Keys about a subject carry it (encoded) as a hash tag, so each call touches one Cluster slot:
 *   `${prefix}{sub}:jti:<jti>`   revoked token        `${prefix}{sub}:fam:<fam>`  revoked family
 *   `${prefix}{sub}:used:<jti>`  redeem (use) mark    `${prefix}{sub}:all`        revokeSubject cut-off
 *   `${prefix}{sub}:sessions`    hash fam → record JSON `${prefix}{sub}:minted`   latest mint time
 *   `${prefix}family:<fam>`      the family's (encoded) subject, read only outside the guarded path
 * Every key has a TTL: until the token or session it names would expire.
 * Redis errors reject; the plugin bounds calls with its own timeout and fails closed.
 */
export class RedisStore implements TokenStore {
  readonly #client: RedisClient & Scripts
  readonly #ownsClient: boolean
  readonly #prefix: string
  readonly #now: () => number

  constructor (options: RedisStoreOptions) {
    if (options.client !== undefined && options.url !== undefined) throw badArgument('RedisStore takes { client } or { url }, not both')
    if (options.client !== undefined) this.#client = withScripts(options.client)
    else if (typeof options.url === 'string') this.#client = withScripts(connect(options.url))
    else throw badArgument('RedisStore needs { client } (an ioredis Redis or Cluster) or { url }')
    this.#ownsClient = options.client === undefined
    this.#prefix = options.prefix ?? 'authx:'
    if (options.now !== undefined && typeof options.now !== 'function') throw badArgument('RedisStore: now must be a function')
    this.#now = options.now ?? Date.now
  }

  /** One round trip (MGET of one subject's keys), on every guarded request. */
  async status (ref: TokenRef): Promise<TokenStatus> {
    const base = this.#subject(ref.sub)
    const keys = [base + 'jti:' + ref.jti, base + 'used:' + ref.jti, base + 'all']
    if (ref.fam !== undefined) keys.push(base + 'fam:' + ref.fam)
    const [revoked, consumedAt, revokedBefore, familyRevoked = null] = await this.#client.mget(keys)
    if (revoked === null && consumedAt === null && revokedBefore === null && familyRevoked === null) return ALL_CLEAR
    return {
      revoked: revoked !== null,
      familyRevoked: familyRevoked !== null,
      revokedBefore: revokedBefore === null ? 0 : Number(revokedBefore),
      consumedAt: consumedAt === null ? 0 : Number(consumedAt)
    }
  }

  async revokeToken (ref: TokenRef, ttlSeconds: number): Promise<void> {
    await this.#client.authxPut(this.#subject(ref.sub) + 'jti:' + ref.jti, '1', ms(ttlSeconds))
  }

  async revokeFamily (sub: string, fam: string, ttlSeconds: number): Promise<void> {
    const base = this.#subject(sub)
    await this.#client.authxRevokeFamily(base + 'fam:' + fam, base + 'sessions', fam, ms(ttlSeconds))
  }

  async revokeSubject (sub: string, beforeMs: number, ttlSeconds: number): Promise<number> {
    const base = this.#subject(sub)
    return Number(await this.#client.authxRevokeSubject(base + 'all', base + 'sessions', base + 'minted', beforeMs, ms(ttlSeconds)))
  }

  /** The check and the mark are one script in the subject's slot; the family → subject index is another slot, written alongside. */
  async redeem (ref: TokenRef, atMs: number, ttlSeconds: number, familyTtlSeconds: number): Promise<TokenStatus> {
    const base = this.#subject(ref.sub)
    const familyTtl = ms(familyTtlSeconds)
    const [[revoked, familyRevoked, cutoff, first]] = await Promise.all([
      this.#client.authxRedeem(base + 'jti:' + ref.jti, base + 'used:' + ref.jti, base + 'all', base + 'fam:' + (ref.fam ?? ''), base + 'minted',
        atMs, ms(ttlSeconds), familyTtl, ref.fam === undefined ? '0' : '1'),
      ref.fam === undefined ? null : this.#client.authxPut(this.#family(ref.fam), encodeSubject(ref.sub), familyTtl)
    ])
    return { revoked: revoked === 1, familyRevoked: familyRevoked === 1, revokedBefore: Number(cutoff), consumedAt: Number(first) }
  }

  async recordFamily (sub: string, fam: string, ttlSeconds: number, atMs: number): Promise<void> {
    const ttl = ms(ttlSeconds)
    await Promise.all([
      this.#client.authxPut(this.#family(fam), encodeSubject(sub), ttl),
      this.#client.authxMinted(this.#subject(sub) + 'minted', atMs, ttl)
    ])
  }

  /** A revoked family's session is not recorded again: a session that ended stays ended. */
  async saveSession (sub: string, record: SessionRecord): Promise<void> {
    const base = this.#subject(sub)
    const left = record.expiresAt - this.#now()
    await Promise.all([
      this.#client.authxSaveSession(base + 'sessions', base + 'fam:' + record.fam, base + 'minted', record.fam, JSON.stringify(record), left, record.createdAt),
      this.#client.authxPut(this.#family(record.fam), encodeSubject(sub), Math.max(1, left))
    ])
  }

  async touchSession (sub: string, fam: string, lastUsedAt: number, expiresAt: number): Promise<void> {
    const now = this.#now()
    const touched = await this.#client.authxTouchSession(this.#subject(sub) + 'sessions', fam, lastUsedAt, expiresAt, now)
    if (touched === 1) await this.#client.authxPut(this.#family(fam), encodeSubject(sub), Math.max(1, expiresAt - now))
  }

  async listSessions (sub: string): Promise<SessionRecord[]> {
    const live = await this.#client.authxListSessions(this.#subject(sub) + 'sessions', this.#now())
    return live.map(json => JSON.parse(json) as SessionRecord).sort((a, b) => a.createdAt - b.createdAt)
  }

  async familySubject (fam: string): Promise<string | null> {
    const sub = await this.#client.get(this.#family(fam))
    return sub === null ? null : decodeSubject(sub)
  }

  /** Quits the client the store made from `url`; a client passed in stays the caller's to close. */
  async close (): Promise<void> {
    if (!this.#ownsClient) return
    if (this.#client.status === 'ready') await this.#client.quit()
    else this.#client.disconnect()
  }

  #subject (sub: string): string {
    return `${this.#prefix}{${encodeSubject(sub)}}:`
  }

  #family (fam: string): string {
    return `${this.#prefix}family:${fam}`
  }
}

/**
 * Keeps every subject inside its hash tag and apart from every other: `{`, `}` and `%` are escaped as
 * `%` and two hex digits, and lone surrogates as `%u` and four (UTF-8 would turn them all into U+FFFD). An empty tag is no tag
 * (Redis would hash the whole key), so the empty subject is `%`, which no other subject encodes to.
 */
function encodeSubject (sub: string): string {
  if (sub === '') return '%'
  return sub.replace(/[%{}]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, c => {
    const code = c.charCodeAt(0)
    return (code < 0x100 ? '%' : '%u') + code.toString(16).toUpperCase()
  })
}

/** The inverse of encodeSubject: the family index holds the encoded subject, which survives UTF-8. */
function decodeSubject (encoded: string): string {
  if (encoded === '%') return ''
  return encoded.replace(/%u([0-9A-F]{4})|%([0-9A-F]{2})/g, (_, u?: string, x?: string) => String.fromCharCode(parseInt(u ?? x ?? '', 16)))
}

/** Seconds to whole milliseconds, at least 1: PX 0 is an error, and an entry must never be kept forever. */
function ms (ttlSeconds: number): number {
  return Math.max(1, Math.ceil(ttlSeconds * 1000))
}

function withScripts (client: RedisClient): RedisClient & Scripts {
  for (const [name, definition] of Object.entries(SCRIPTS)) client.defineCommand(name, definition)
  return client as RedisClient & Scripts
}

/**
 * ioredis is an optional peer dependency: it is loaded only here, for a store that makes its own client.
 * Fail fast when Redis is down (one retry, then the command rejects) rather than queue requests forever.
 */
function connect (url: string): RedisClient {
  let ioredis: typeof import('ioredis')
  try {
    ioredis = require('ioredis')
  } catch (err) {
    throw Object.assign(new errors.FST_AUTHX_IOREDIS_MISSING(), { cause: err })
  }
  const client = new ioredis.Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 })
  // Connection errors reach callers as rejected commands; unheard, ioredis would also print every retry.
  client.on('error', () => {})
  return client
}
