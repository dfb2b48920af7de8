import { createPublicKey, type JsonWebKey } from 'node:crypto'
import { createDecoder, createVerifier } from 'fast-jwt'
import type { FastifyBaseLogger } from 'fastify'
import { authError, errors, type AuthxError } from './errors'
import { fits, thumbprint } from './keys'
import type { AlgorithmName, Config, JwksConfig } from './options'
import { verifierOptions, type JwtApi } from './jwt'
import { emitAuthxWarning } from './warnings'

/** Members that only a private or symmetric JWK has: a JWKS that carries one is leaking a secret. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']
const KEY_TYPES = new Set(['RSA', 'EC', 'OKP'])
/** Bounds on what one answer may cost: bytes read, keys turned into verifiers. */
const MAX_BYTES = 512 * 1024
const MAX_KEYS = 100

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

const kPending = Symbol('fastify-authx.keysPending')

/**
 * The 503 a token gets while the fetch it needs is running, carrying that fetch. A guard waits for it
 * and checks the token again; a synchronous caller (`verifyToken`) answers 503 and the key is there
 * for the next call.
 */
function keysPending (wait: Promise<void>): AuthxError {
  const err = authError('FST_AUTHX_JWKS_UNAVAILABLE')
  Object.defineProperty(err, kPending, { value: wait })
  return err
}

/** The fetch a `keysPending` error waits for, or undefined for any other error. */
export function pendingKeys (err: unknown): Promise<void> | undefined {
  return (err as { [kPending]?: Promise<void> } | null)?.[kPending]
}

interface Entry {
  /** the prebuilt verifier, pinned to the key's one algorithm */
  api: JwtApi
  /** what the key is: kid, alg and thumbprint; an unchanged key keeps its verifier across fetches */
  id: string
  jwk: JsonWebKey
}

/** Why a fetch failed, in words fit for a log line (never the answer's body). */
class FetchFailure extends Error {}

/** `Cache-Control` max-age in ms; `no-store`/`no-cache` count as 0; undefined when absent. */
export function maxAgeOf (header: string | null): number | undefined {
  if (header === null) return undefined
  let age: number | undefined
  for (const part of header.toLowerCase().split(',')) {
    const directive = part.trim()
    if (directive === 'no-store' || directive === 'no-cache') return 0
    const m = /^max-age\s*=\s*"?(\d{1,10})"?$/.exec(directive)
    if (m !== null) age = Number(m[1]) * 1000
  }
  return age
}

/** The public members of a checked JWK, the only ones a key is built from. */
function publicMembers (jwk: Record<string, unknown>): JsonWebKey {
  return jwk.kty === 'RSA'
    ? { kty: 'RSA', n: jwk.n as string, e: jwk.e as string }
    : jwk.kty === 'EC'
      ? { kty: 'EC', crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string }
      : { kty: 'OKP', crv: jwk.crv as string, x: jwk.x as string }
}

/**
 * Checks one JWK of the answer and returns a reason when it is not usable: it must be a public
 * RSA/EC/OKP signature key with a `kid` and an `alg` from `decodeAlgorithms` that fits it.
 */
function checkJwk (jwk: unknown, allowed: ReadonlySet<string>): { kid: string, alg: AlgorithmName, pem: string, jwk: JsonWebKey } | string {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) return 'not an object'
  const k = jwk as Record<string, unknown>
  if (k.kty === 'oct') return 'symmetric (kty oct)'
  if (typeof k.kty !== 'string' || !KEY_TYPES.has(k.kty)) return 'unknown kty'
  if (PRIVATE_MEMBERS.some(m => Object.hasOwn(k, m))) return 'private members'
  if (k.use !== undefined && k.use !== 'sig') return 'use is not sig'
  if (k.key_ops !== undefined && (!Array.isArray(k.key_ops) || !k.key_ops.includes('verify'))) return 'key_ops without verify'
  if (typeof k.kid !== 'string' || k.kid.length === 0 || k.kid.length > 256) return 'no kid'
  if (typeof k.alg !== 'string' || !allowed.has(k.alg)) return 'alg missing or not in decodeAlgorithms'
  const members = publicMembers(k)
  let key
  try { key = createPublicKey({ key: members, format: 'jwk' }) } catch { return 'not a valid key' }
  if ((key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return 'RSA key under 2048 bits'
  if (!fits(key, k.alg)) return 'alg does not fit the key'
  return { kid: k.kid, alg: k.alg as AlgorithmName, pem: key.export({ type: 'spki', format: 'pem' }) as string, jwk: members }
}

/**
 * `jwksUrl`: the issuer's public keys, fetched from that one URL and nowhere else (nothing a token
 * names is ever fetched). Each usable key becomes, once, a fast-jwt verifier pinned to its `alg`
 * with the same claim checks as configured keys, so a token whose `kid` is cached is verified
 * synchronously. Every time decision reads `config.now`.
 *
 * The one rule that bounds the load on the issuer: at most one fetch starts per `cooldown`, whatever
 * asks for it (an unknown `kid`, keys past their max-age, a retry after a failure), and callers
 * that arrive while it runs share it.
 */
export class RemoteKeySet {
  readonly #config: JwksConfig
  readonly #allowed: ReadonlySet<string>
  readonly #options: (alg: AlgorithmName) => Record<string, unknown>
  readonly #now: () => number
  readonly #log: FastifyBaseLogger
  readonly #closed = new AbortController()
  #keys: Map<string, Entry> | undefined
  #freshUntil = 0
  #usableUntil = 0
  #lastStart = -Infinity
  #lastFailed = false
  #inflight: Promise<void> | undefined
  /** fast-jwt's decoder, for the `kid` (the signature is checked by the key's own verifier) */
  readonly decode = createDecoder({ complete: true }) as JwtApi['decode']

  constructor (config: Config, algorithms: AlgorithmName[], log: FastifyBaseLogger) {
    this.#config = config.jwks as JwksConfig
    this.#allowed = new Set(algorithms)
    this.#options = alg => verifierOptions(config, [alg])
    this.#now = config.now
    this.#log = log
    const { protocol, hostname } = new URL(this.#config.url)
    if (protocol === 'http:' && !LOOPBACK.has(hostname)) {
      log.warn('fastify-authx: jwksUrl is plain http; whoever can alter its answer can mint tokens (use https)')
      emitAuthxWarning('FST_AUTHX_INSECURE_JWKS_URL')
    }
  }

  /**
   * The verifier for `kid`, synchronously when the key is cached. Otherwise throws: a pending 503
   * carrying the fetch to wait for, 401 when a recent answer does not have the key, or 503 when no
   * answer can say (the issuer is down and the cooldown has not passed).
   */
  verifier (kid: string): JwtApi {
    const t = this.#now()
    const keys = this.#keys
    const usable = keys !== undefined && t < this.#usableUntil
    if (usable) {
      const entry = keys.get(kid)
      if (entry !== undefined) {
        // Past max-age: keep answering from the cache while one background fetch refreshes it.
        if (t >= this.#freshUntil) this.#start(t)
        return entry.api
      }
    }
    const wait = this.#start(t)
    if (wait !== undefined) throw keysPending(wait)
    if (usable && !this.#lastFailed) throw authError('FST_AUTHX_INVALID_TOKEN')
    throw authError('FST_AUTHX_JWKS_UNAVAILABLE')
  }

  /** Fetches now unless a fetch runs or the cooldown forbids it; never rejects (used at `onReady`). */
  async refresh (): Promise<void> {
    await this.#start(this.#now())
  }

  /** Aborts a running fetch (`onClose`). */
  close (): void {
    this.#closed.abort()
  }

  /** The cached public keys, as a JWKS document. */
  jwks (): { keys: JsonWebKey[] } {
    return { keys: [...(this.#keys?.values() ?? [])].map(e => ({ ...e.jwk })) }
  }

  /** The running fetch, a new one if the cooldown allows, or undefined. */
  #start (t: number): Promise<void> | undefined {
    if (this.#inflight !== undefined) return this.#inflight
    if (t - this.#lastStart < this.#config.cooldown || this.#closed.signal.aborted) return undefined
    this.#lastStart = t
    // Never rejects: whoever waits for a fetch learns its outcome from the state it leaves.
    const run = this.#load().catch(() => { this.#lastFailed = true }).finally(() => { this.#inflight = undefined })
    this.#inflight = run
    return run
  }

  async #load (): Promise<void> {
    let body: unknown
    let maxAge: number | undefined
    try {
      ({ body, maxAge } = await this.#download())
    } catch (err) {
      this.#lastFailed = true
      if (this.#closed.signal.aborted) return
      const reason = err instanceof FetchFailure
        ? err.message
        : (err as Error)?.name === 'TimeoutError' || (err as Error)?.name === 'AbortError' ? 'timed out' : 'network error'
      this.#log.warn(`fastify-authx: the JWKS fetch failed (${reason}); the last good keys stay in use for at most jwks.staleFor`)
      return
    }
    const keys = new Map<string, Entry>()
    const skipped = new Map<string, number>()
    const seen = new Set<string>()
    const list = (body as { keys: unknown[] }).keys
    for (const jwk of list) {
      const checked = checkJwk(jwk, this.#allowed)
      if (typeof checked === 'string') { skipped.set(checked, (skipped.get(checked) ?? 0) + 1); continue }
      if (seen.has(checked.kid)) {
        // Two keys under one kid: which one signs is ambiguous, so neither is used.
        keys.delete(checked.kid)
        skipped.set('duplicate kid', (skipped.get('duplicate kid') ?? 0) + 2)
        continue
      }
      seen.add(checked.kid)
      const id = `${checked.alg} ${thumbprint(checked.jwk)}`
      const old = this.#keys?.get(checked.kid)
      let api = old !== undefined && old.id === id ? old.api : undefined
      if (api === undefined) {
        try {
          api = { verify: createVerifier({ ...this.#options(checked.alg), key: checked.pem }) as JwtApi['verify'], decode: this.decode, sign: notSigning }
        } catch {
          skipped.set('not usable by fast-jwt', (skipped.get('not usable by fast-jwt') ?? 0) + 1)
          continue
        }
      }
      keys.set(checked.kid, { api, id, jwk: { ...checked.jwk, kid: checked.kid, alg: checked.alg, use: 'sig' } })
    }
    if (skipped.size > 0) {
      this.#log.warn(`fastify-authx: JWKS keys skipped: ${[...skipped].map(([why, n]) => `${n} ${why}`).join(', ')}`)
    }
    const { minAge, maxAge: ceiling, staleFor } = this.#config
    const done = this.#now()
    this.#keys = keys
    this.#freshUntil = done + Math.min(ceiling, Math.max(minAge, maxAge ?? minAge))
    this.#usableUntil = this.#freshUntil + staleFor
    this.#lastFailed = false
  }

  /** One GET of the configured URL: no redirects, 200 and JSON only, bounded in time and size. */
  async #download (): Promise<{ body: unknown, maxAge: number | undefined }> {
    // A controller and a timer of our own rather than AbortSignal.timeout: Node holds that signal's timer
    // only weakly, and a signal collected while the fetch waits never aborts it (a hung fetch for good).
    const controller = new AbortController()
    const timer = setTimeout(() => { controller.abort(new DOMException('The JWKS fetch timed out', 'TimeoutError')) }, this.#config.timeout)
    const onClose = (): void => { controller.abort(new DOMException('The app closed', 'AbortError')) }
    this.#closed.signal.addEventListener('abort', onClose, { once: true })
    try {
      return await this.#fetchKeys(controller.signal)
    } finally {
      clearTimeout(timer)
      this.#closed.signal.removeEventListener('abort', onClose)
    }
  }

  async #fetchKeys (signal: AbortSignal): Promise<{ body: unknown, maxAge: number | undefined }> {
    const res = await fetch(this.#config.url, {
      method: 'GET',
      redirect: 'manual',
      signal,
      headers: { accept: 'application/jwk-set+json, application/json' }
    })
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {})
      throw new FetchFailure(`HTTP ${res.status}`)
    }
    if (!/^application\/(?:jwk-set\+)?json\s*(?:;|$)/i.test(res.headers.get('content-type') ?? '')) {
      await res.body?.cancel().catch(() => {})
      throw new FetchFailure('not JSON')
    }
    const text = await readCapped(res)
    let body: unknown
    try { body = JSON.parse(text) } catch { throw new FetchFailure('not JSON') }
    const keys = (body as { keys?: unknown } | null)?.keys
    if (!Array.isArray(keys)) throw new FetchFailure('not a JWKS')
    if (keys.length > MAX_KEYS) throw new FetchFailure(`more than ${MAX_KEYS} keys`)
    return { body, maxAge: maxAgeOf(res.headers.get('cache-control')) }
  }
}

function notSigning (): string {
  throw new errors.FST_AUTHX_VERIFY_ONLY()
}

/** The body as text, refused past MAX_BYTES; the fetch's signal still bounds the time it takes. */
async function readCapped (res: Response): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? 0)
  if (declared > MAX_BYTES) {
    await res.body?.cancel().catch(() => {})
    throw new FetchFailure('too large')
  }
  if (res.body === null) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of res.body) {
    size += chunk.byteLength
    if (size > MAX_BYTES) throw new FetchFailure('too large')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
