import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { authError, badArgument } from './errors'
import type { Config } from './options'
import type { TokenType } from './schemas'
import { statusOf, storeAnswer, syncReadOf, unavailable, type Bounded } from './store-calls'
import type { TokenRef, TokenStatus, TokenStore } from './stores/types'
import { issuedAt } from './verifier'

/**
 * The family a token belongs to: its `fam` claim, or else the one named after its own jti. Whatever is
 * minted from a token (rotation, implicit refresh) carries this family, so revoking it ends them too.
 */
export function familyOf (payload: Record<string, any>): string {
  return typeof payload.fam === 'string' ? payload.fam : payload.jti
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
  /** `app.authx.revokeToken`: a verified payload (checked here) or what `verify(token, true)` made of a token. */
  revokeToken (payload: unknown, log: FastifyBaseLogger): Promise<void>
  revokeFamily (sub: string, fam: string, log: FastifyBaseLogger): Promise<void>
  revokeAllSessions (sub: string, log: FastifyBaseLogger): Promise<void>
  /** seconds an entry about this token must be kept: until it would expire (leeway included) */
  ttlOf (payload: Record<string, any>): number
  /** seconds a family or subject entry must be kept: until the longest-lived token issued now would expire */
  longestTtl: number
}

/** Timer turns `revokeAllSessions` waits, at most, for the clock to move past its cut-off. */
const CLOCK_TURNS = 5

/**
 * Revocation and the redeem step, on top of the store: what the store answers is judged here (the store
 * holds facts, this module decides), and every store call goes through `bounded` (fail closed).
 */
export function createRevocation (config: Config, store: TokenStore, bounded: Bounded): Revocation {
  const { identityClaim, isRevoked, leeway, rotation, types, now } = config
  const graceMs = rotation === false ? 0 : rotation.reuseGraceSeconds * 1000
  // Tokens without `exp` (lifetime false) are remembered for a year.
  const YEAR = 31557600
  const kept = (life: number | false) => life === false ? YEAR : life
  const longestTtl = Math.max(kept(types.access.lifetime), kept(types.refresh.lifetime)) + leeway + 1
  // The store's synchronous read, when it has one the plugin may use (see syncReadOf): a guard then needs no promise.
  const statusNow = syncReadOf(store)

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
    const status = statusOf(await bounded(() => store.status(ref), request.log))
    if (status === undefined) throw storeAnswer(request.log)
    await judge(status, ref, payload, rotatingType(type), request.log)
    if (isRevoked !== undefined) await askIsRevoked(payload, request)
  }

  /**
   * Synchronous when the answer is known at once (a store with `statusNow` said "all clear" and there is
   * no `isRevoked`): then it returns undefined and the guard needs no promise. Otherwise a promise.
   */
  function check (request: FastifyRequest, payload: Record<string, any>, type: TokenType): Promise<void> | undefined {
    const ref = refOf(payload)
    if (statusNow === undefined) return checkRemote(request, ref, payload, type)
    let answer: unknown
    try { answer = statusNow(ref) } catch (err) { throw unavailable(err, request.log) }
    const status = statusOf(answer)
    if (status === undefined) throw storeAnswer(request.log)
    const reused = judge(status, ref, payload, rotatingType(type), request.log)
    if (reused !== undefined) return reused
    return isRevoked === undefined ? undefined : askIsRevoked(payload, request)
  }

  async function redeem (payload: Record<string, any>, log: FastifyBaseLogger, rotating: boolean, request?: FastifyRequest): Promise<number> {
    const ref = refOf(payload)
    const at = now()
    const status = statusOf(await bounded(() => store.redeem(ref, at, ttlOf(payload), longestTtl), log))
    if (status === undefined) throw storeAnswer(log)
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
    async revokeToken (given, log) {
      const payload = given as Record<string, any>
      if (payload === null || typeof payload !== 'object' || typeof payload.jti !== 'string' || typeof payload[identityClaim] !== 'string') {
        throw badArgument('revokeToken needs a verified payload or an encoded token')
      }
      const ref = refOf(payload)
      if (typeof payload.exp === 'number' && now() >= payload.exp * 1000 + leeway * 1000) {
        // Expired: it is accepted nowhere, but what was minted from it may be, and its redeem mark (kept
        // only as long as the token lived) can no longer tell. What was minted carries its family.
        return await revokeFamily(ref.sub, ref.fam as string, log)
      }
      await bounded(() => store.revokeToken(ref, ttlOf(payload)), log)
      // Something may already have been minted from it (a rotation, an implicit refresh, perhaps still in
      // flight): what was minted carries its family. A redeem that missed the revocation above came
      // before it, so this read, after it, sees its mark.
      const status = statusOf(await bounded(() => store.status(ref), log))
      if (status === undefined) throw storeAnswer(log)
      if (status.consumedAt !== 0) await revokeFamily(ref.sub, ref.fam as string, log)
    },
    async revokeAllSessions (sub, log) {
      const answer = await bounded(() => store.revokeAllSessions(sub, now(), longestTtl), log)
      // Tokens issued at the cut-off's millisecond are revoked too; wait (a few ms at most) for the clock
      // to pass the cut-off in force, so that what this instance issues once this resolves is dated after it.
      const cutoff = Number.isFinite(answer) ? answer : 0
      for (let i = 0; i < CLOCK_TURNS && now() <= cutoff; i++) await new Promise(resolve => setTimeout(resolve, 1))
    }
  }
}
