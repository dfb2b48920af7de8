import DataLoader from 'dataloader'
import { ALL_CLEAR, type SessionRecord, type TokenRef, type TokenStatus, type TokenStore } from './types'
import { badArgument, errors } from '../errors'

/** The part of an ioredis pipeline the replica wait uses. */
export interface RedisPipeline {
  eval (script: string, numberOfKeys: number, ...keysAndArgs: Array<string | number>): RedisPipeline
  wait (replicas: number, timeout: number): RedisPipeline
  exec (): Promise<Array<[Error | null, unknown]> | null>
}

/**
 * The part of an ioredis `Redis` or `Cluster` client the store uses. Declared here so that the
 * package's types never import ioredis (an optional peer): apps without it still type-check.
 */
export interface RedisClient {
  defineCommand (name: string, definition: { numberOfKeys: number, lua: string }): void
  mget (keys: string[]): Promise<Array<string | null>>
  get (key: string): Promise<string | null>
  pipeline (): RedisPipeline
  quit (): Promise<unknown>
  disconnect (): void
  readonly status: string
  /** the options the client was made with: read to warn about unbounded queues */
  readonly options?: object
  readonly isCluster?: boolean
}

/** `WAIT numreplicas timeout` after every write: see `waitForReplicas` below. */
export interface ReplicaWait {
  /** how many replicas must confirm a write (at least 1) */
  replicas: number
  /** milliseconds to wait for them (at least 1: `WAIT` with 0 would block forever); keep it under `storeTimeout` */
  timeout: number
}

export type RedisStoreOptions = ({ client: RedisClient, url?: undefined, commandTimeout?: undefined } | {
  url: string
  client?: undefined
  /**
   * Only with `url`: milliseconds after which the store's client gives a command up (default 500; keep it
   * at or above the plugin's `storeTimeout`, 200 by default). A connection that answers nothing for that
   * long while commands wait for it (a hung server) is dropped, and its queued commands with it.
   */
  commandTimeout?: number
}) & {
  /** prepended to every key; default 'authx:' */
  prefix?: string
  /** the clock sessions expire by: milliseconds since the epoch (default `Date.now`); give it the plugin's `now` */
  now?: () => number
  /**
   * The replica-wait option: revocations, redeems (rotation, implicit refresh) and session writes are
   * sent with `WAIT replicas timeout` behind them, on the same connection to the node that took the
   * write, and reject (the plugin answers 503) when fewer replicas confirm. Then a write the plugin
   * reported done survives the loss of that master. Off by default (Redis replicates asynchronously).
   */
  waitForReplicas?: ReplicaWait
}

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

type ScriptName = keyof typeof SCRIPTS
type Arg = string | number

/** A write the replicas did not confirm in time: the plugin fails closed on it (503). */
class ReplicaWaitError extends Error {
  override name = 'ReplicaWaitError'
}

/**
 * A store in Redis, shared by every app instance: `new RedisStore({ client })` over an ioredis Redis or
 * Cluster client you own (close() leaves it open), or `new RedisStore({ url })` (the store's own client).
 *
 * Keys about a subject carry it (encoded) as a hash tag, so each call touches one Cluster slot:
 *   `${prefix}{sub}:jti:<jti>`   revoked token        `${prefix}{sub}:fam:<fam>`  revoked family
 *   `${prefix}{sub}:used:<jti>`  redeem (use) mark    `${prefix}{sub}:all`        revokeAllSessions cut-off
 *   `${prefix}{sub}:sessions`    hash fam → record JSON `${prefix}{sub}:minted`   latest mint time
 *   `${prefix}family:<fam>`      the family's (encoded) subject, read only outside the guarded path
 * Every key has a TTL: until the token or session it names would expire.
 * Redis errors reject; the plugin bounds calls with its own timeout and fails closed.
 */
export class RedisStore implements TokenStore {
  readonly #client: RedisClient
  readonly #ownsClient: boolean
  readonly #prefix: string
  readonly #now: () => number
  readonly #wait: ReplicaWait | undefined
  readonly #reads: DataLoader<TokenRef, Answer | Promise<TokenStatus>>

  constructor (options: RedisStoreOptions) {
    if (options.client !== undefined && options.url !== undefined) throw badArgument('RedisStore takes { client } or { url }, not both')
    if (options.client !== undefined) {
      if (options.commandTimeout !== undefined) throw badArgument('RedisStore: commandTimeout is for { url }; set commandTimeout and socketTimeout on the client you pass in')
      this.#client = withScripts(options.client)
    } else if (typeof options.url === 'string') {
      const timeout = options.commandTimeout ?? 500
      if (!Number.isInteger(timeout) || timeout < 1) throw badArgument('RedisStore: commandTimeout must be a whole number of milliseconds, at least 1')
      this.#client = withScripts(connect(options.url, timeout))
    } else throw badArgument('RedisStore needs { client } (an ioredis Redis or Cluster) or { url }')
    this.#ownsClient = options.client === undefined
    this.#prefix = options.prefix ?? 'authx:'
    if (options.now !== undefined && typeof options.now !== 'function') throw badArgument('RedisStore: now must be a function')
    this.#now = options.now ?? Date.now
    const wait = options.waitForReplicas
    if (wait !== undefined && (wait === null || typeof wait !== 'object' || !Number.isInteger(wait.replicas) || wait.replicas < 1 ||
      !Number.isInteger(wait.timeout) || wait.timeout < 1)) {
      throw badArgument('RedisStore: waitForReplicas must be { replicas, timeout }, whole numbers of at least 1')
    }
    this.#wait = wait === undefined ? undefined : { replicas: wait.replicas, timeout: wait.timeout }
    // The reads of one event-loop turn (the guards of requests that arrived together) are sent together:
    // setImmediate runs once the turn's I/O callbacks have all run. No cache: every call reads Redis.
    this.#reads = new DataLoader(refs => this.#readAll(refs), { cache: false, maxBatchSize: READ_BATCH, batchScheduleFn: setImmediate })
  }

  /**
   * One round trip on every guarded request: the status reads made in the same event-loop turn are
   * coalesced into one MGET (on a Cluster, one per subject: each subject's keys share a slot), sent once
   * the turn's I/O callbacks have run; nothing is cached.
   */
  status (ref: TokenRef): Promise<TokenStatus> {
    // a promise resolved with a promise follows it: a Cluster call settles with its own subject's MGET
    return this.#reads.load(ref) as Promise<TokenStatus>
  }

  /**
   * The batch behind `status`: an answer per ref, in order. On a Cluster each subject's MGET goes to its own
   * node and its calls settle with it alone (an answer here may be a promise, which the call then follows):
   * a slow or hung node delays and fails only the calls about its subjects.
   */
  #readAll (refs: readonly TokenRef[]): Promise<Array<Answer | Promise<TokenStatus>>> {
    const bases = refs.map(ref => this.#subject(ref.sub))
    if (this.#client.isCluster !== true) return this.#read(refs, bases)
    const bySubject = new Map<string, number[]>()
    bases.forEach((base, i) => { const at = bySubject.get(base); if (at === undefined) bySubject.set(base, [i]); else at.push(i) })
    // one subject (one slot): one MGET, settled as one, as on a single node
    if (bySubject.size === 1) return this.#read(refs, bases)
    const answers = new Array<Promise<TokenStatus>>(refs.length)
    for (const at of bySubject.values()) {
      const read = this.#read(at.map(i => refs[i]), at.map(i => bases[i]))
      at.forEach((i, k) => { answers[i] = read.then(statuses => answerOf(statuses[k])) })
    }
    return Promise.resolve(answers)
  }

  /** One MGET of these refs' keys (`bases`: each ref's subject key prefix), read back as one answer per ref. */
  async #read (refs: readonly TokenRef[], bases: string[]): Promise<Answer[]> {
    return statusesOf(refs, bases, await this.#client.mget(statusKeys(refs, bases)))
  }

  async revokeToken (ref: TokenRef, ttlSeconds: number): Promise<void> {
    await this.#write('authxPut', [this.#subject(ref.sub) + 'jti:' + ref.jti], ['1', ms(ttlSeconds)])
  }

  async revokeFamily (sub: string, fam: string, ttlSeconds: number): Promise<void> {
    const base = this.#subject(sub)
    await this.#write('authxRevokeFamily', [base + 'fam:' + fam, base + 'sessions'], [fam, ms(ttlSeconds)])
  }

  async revokeAllSessions (sub: string, beforeMs: number, ttlSeconds: number): Promise<number> {
    const base = this.#subject(sub)
    return Number(await this.#write<string>('authxRevokeSubject', [base + 'all', base + 'sessions', base + 'minted'], [beforeMs, ms(ttlSeconds)]))
  }

  /** The check and the mark are one script in the subject's slot; the family → subject index is another slot, written alongside. */
  async redeem (ref: TokenRef, atMs: number, ttlSeconds: number, familyTtlSeconds: number): Promise<TokenStatus> {
    const base = this.#subject(ref.sub)
    const familyTtl = ms(familyTtlSeconds)
    const [[revoked, familyRevoked, cutoff, first]] = await Promise.all([
      this.#write<[number, number, string, string]>('authxRedeem',
        [base + 'jti:' + ref.jti, base + 'used:' + ref.jti, base + 'all', base + 'fam:' + (ref.fam ?? ''), base + 'minted'],
        [atMs, ms(ttlSeconds), familyTtl, ref.fam === undefined ? '0' : '1']),
      ref.fam === undefined ? null : this.#write('authxPut', [this.#family(ref.fam)], [encodeSubject(ref.sub), familyTtl])
    ])
    return { revoked: revoked === 1, familyRevoked: familyRevoked === 1, revokedBefore: Number(cutoff), consumedAt: Number(first) }
  }

  async recordFamily (sub: string, fam: string, ttlSeconds: number, atMs: number): Promise<void> {
    const ttl = ms(ttlSeconds)
    await Promise.all([
      this.#write('authxPut', [this.#family(fam)], [encodeSubject(sub), ttl]),
      this.#write('authxMinted', [this.#subject(sub) + 'minted'], [atMs, ttl])
    ])
  }

  /** A revoked family's session is not recorded again: a session that ended stays ended. */
  async saveSession (sub: string, record: SessionRecord): Promise<void> {
    const base = this.#subject(sub)
    const left = record.expiresAt - this.#now()
    await Promise.all([
      this.#write('authxSaveSession', [base + 'sessions', base + 'fam:' + record.fam, base + 'minted'], [record.fam, JSON.stringify(record), left, record.createdAt]),
      this.#write('authxPut', [this.#family(record.fam)], [encodeSubject(sub), Math.max(1, left)])
    ])
  }

  async touchSession (sub: string, fam: string, lastUsedAt: number, expiresAt: number): Promise<void> {
    const now = this.#now()
    const touched = await this.#write('authxTouchSession', [this.#subject(sub) + 'sessions'], [fam, lastUsedAt, expiresAt, now])
    if (touched === 1) await this.#write('authxPut', [this.#family(fam)], [encodeSubject(sub), Math.max(1, expiresAt - now)])
  }

  /** Deletes the expired records it finds, but waits for no replica: they are expired on every node anyway. */
  async listSessions (sub: string): Promise<SessionRecord[]> {
    const live = await this.#call<string[]>('authxListSessions', [this.#subject(sub) + 'sessions'], [this.#now()])
    return live.map(json => JSON.parse(json) as SessionRecord).sort((a, b) => a.createdAt - b.createdAt)
  }

  async familySubject (fam: string): Promise<string | null> {
    const sub = await this.#client.get(this.#family(fam))
    return sub === null ? null : decodeSubject(sub)
  }

  /** What a client passed in would keep queued without bound; the plugin warns about it at register time. */
  warnings (): string[] {
    return this.#ownsClient ? [] : unboundedQueues(this.#client)
  }

  /** Quits the client the store made from `url`; a client passed in stays the caller's to close. */
  async close (): Promise<void> {
    if (!this.#ownsClient) return
    if (this.#client.status === 'ready') await this.#client.quit()
    else this.#client.disconnect()
  }

  #call<T> (name: ScriptName, keys: string[], args: Arg[]): Promise<T> {
    return (this.#client as unknown as Record<ScriptName, (...a: Arg[]) => Promise<T>>)[name](...keys, ...args)
  }

  /**
   * A script that writes; with `waitForReplicas`, followed by `WAIT` in one pipeline. A pipeline goes to
   * one connection: on a Cluster, to the master of its keys' slot (WAIT has no key and goes along), so
   * WAIT counts the replicas of the node that took the write, which a separate WAIT could not promise.
   * The script is sent as EVAL, never EVALSHA: a NOSCRIPT retry would be sent after the WAIT, unawaited.
   */
  async #write<T = unknown> (name: ScriptName, keys: string[], args: Arg[]): Promise<T> {
    const wait = this.#wait
    if (wait === undefined) return await this.#call<T>(name, keys, args)
    const replies = await this.#client.pipeline().eval(SCRIPTS[name].lua, keys.length, ...keys, ...args).wait(wait.replicas, wait.timeout).exec()
    if (replies === null || replies.length !== 2) throw new ReplicaWaitError('RedisStore: the write and its WAIT got no answer')
    const [[writeError, value], [waitError, confirmed]] = replies
    if (writeError !== null) throw writeError
    if (waitError !== null) throw waitError
    if (typeof confirmed !== 'number' || confirmed < wait.replicas) {
      throw new ReplicaWaitError(`RedisStore: ${String(confirmed)} of ${wait.replicas} replicas confirmed a write within ${wait.timeout} ms`)
    }
    return value as T
  }

  #subject (sub: string): string {
    return `${this.#prefix}{${encodeSubject(sub)}}:`
  }

  #family (fam: string): string {
    return `${this.#prefix}family:${fam}`
  }
}

/** The most status reads one MGET carries (at most 4 keys each); more in one turn go in further MGETs. */
const READ_BATCH = 128

/** Each ref's keys, in order: revoked jti, used mark, cut-off, and the family tombstone when it has a family. */
function statusKeys (refs: readonly TokenRef[], bases: string[]): string[] {
  const keys: string[] = []
  for (let i = 0; i < refs.length; i++) {
    const ref = refs[i]
    const base = bases[i]
    keys.push(base + 'jti:' + ref.jti, base + 'used:' + ref.jti, base + 'all')
    if (ref.fam !== undefined) keys.push(base + 'fam:' + ref.fam)
  }
  return keys
}

/** One ref's answer from a batch: its status, or the Error that fails its call (DataLoader rejects the call with it). */
type Answer = TokenStatus | Error

function answerOf (answer: Answer): TokenStatus {
  if (answer instanceof Error) throw answer
  return answer
}

/** The MGET reply for `statusKeys(refs)`, read back as one status per ref. */
function statusesOf (refs: readonly TokenRef[], bases: string[], values: Array<string | null>): Answer[] {
  if (!Array.isArray(values)) throw new Error('RedisStore: MGET answered something other than a list')
  const out = new Array<Answer>(refs.length)
  let j = 0
  for (let i = 0; i < refs.length; i++) {
    const n = refs[i].fam === undefined ? 3 : 4
    if (values.length < j + n) { out[i] = new Error('RedisStore: MGET answered too few values'); continue }
    const revoked = values[j]
    const consumedAt = values[j + 1]
    const revokedBefore = values[j + 2]
    const familyRevoked = n === 4 ? values[j + 3] : null
    j += n
    out[i] = revoked === null && consumedAt === null && revokedBefore === null && familyRevoked === null
      ? ALL_CLEAR
      : {
          revoked: revoked !== null,
          familyRevoked: familyRevoked !== null,
          revokedBefore: revokedBefore === null ? 0 : Number(revokedBefore),
          consumedAt: consumedAt === null ? 0 : Number(consumedAt)
        }
  }
  return out
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

function withScripts (client: RedisClient): RedisClient {
  for (const [name, definition] of Object.entries(SCRIPTS)) client.defineCommand(name, definition)
  return client
}

/**
 * What would keep commands queued without bound in a client passed in (read from its options):
 * no `socketTimeout` (a hung server, alive but silent, keeps every command sent to it), or an offline
 * queue that is never flushed while Redis is unreachable.
 */
export function unboundedQueues (client: RedisClient): string[] {
  const options = (client.options ?? {}) as Record<string, any>
  const found: string[] = []
  if (client.isCluster === true) {
    if (options.redisOptions?.socketTimeout === undefined) found.push('redisOptions.socketTimeout is not set: a hung node keeps every command sent to it queued')
    if (options.enableOfflineQueue !== false) found.push('enableOfflineQueue is not false: while the cluster is unreachable every command waits in its offline queue')
  } else {
    if (options.socketTimeout === undefined) found.push('socketTimeout is not set: a hung Redis keeps every command sent to it queued')
    if (options.enableOfflineQueue !== false && options.maxRetriesPerRequest === null) {
      found.push('maxRetriesPerRequest is null: while Redis is unreachable every command waits in the offline queue')
    }
  }
  return found
}

/**
 * ioredis is an optional peer dependency: it is loaded only here, for a store that makes its own client.
 * Every queue is bounded in time: a command unanswered for `commandTimeout` rejects; a connection silent
 * that long while commands wait is dropped (a hung server), rejecting what it held; a dropped
 * connection's commands fail at once (maxRetriesPerRequest 0) and are never replayed later; commands
 * sent while reconnecting wait at most until the next attempt fails. Reconnects come at most 250 ms
 * apart, and a Redis still loading its data is asked again every 100 ms, so the store is back soon
 * after Redis is.
 */
function connect (url: string, commandTimeout: number): RedisClient {
  let ioredis: typeof import('ioredis')
  try {
    ioredis = require('ioredis')
  } catch (err) {
    throw Object.assign(new errors.FST_AUTHX_IOREDIS_MISSING(), { cause: err })
  }
  const client = new ioredis.Redis(url, {
    lazyConnect: true,
    connectTimeout: 2000,
    commandTimeout,
    socketTimeout: commandTimeout,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt: number) => Math.min(attempt * 50, 250),
    // Writes issued in the same event-loop turn go out in one pipeline (fewer syscalls under load). Not the
    // guards' reads: the store already sends a turn's reads as one MGET, which a pipeline would only wrap
    // and hold behind the one in flight.
    enableAutoPipelining: true,
    autoPipeliningIgnoredCommands: ['mget'],
    // a restarted Redis loading its AOF: look again every 100 ms, not every second (ioredis's default)
    maxLoadingRetryTime: 100
  })
  // Connection errors reach callers as rejected commands; unheard, ioredis would also print every retry.
  client.on('error', () => {})
  return client
}
