import fastifyCookie from '@fastify/cookie'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { createCookieHelpers } from './cookies'
import { createCheckCsrf } from './csrf'
import { authError, badArgument, badOptions, errors } from './errors'
import { createGuardFactory } from './guard'
import { createImplicitRefresh } from './implicit-refresh'
import { RemoteKeySet } from './jwks'
import { jwks, loadKeys } from './keys'
import { addOpenapi, describeGuards } from './openapi'
import { normalise, parseDuration, validateShape, type AuthxOptions } from './options'
import { createBounded, createRevocation } from './revocation'
import { createSessions } from './sessions'
import { MemoryStore } from './stores/memory'
import type { TokenStore } from './stores/types'
import { createIssue, createVerify, registerJwt } from './tokens'
import type { Authx, TokenPayload } from './types'
import { emitAuthxWarning } from './warnings'

const STORE_METHODS = ['status', 'revokeToken', 'revokeFamily', 'revokeSubject', 'redeem', 'recordFamily', 'saveSession', 'touchSession', 'listSessions', 'familySubject'] as const

function checkStore (store: unknown): TokenStore {
  if (store === null || typeof store !== 'object' || STORE_METHODS.some(m => typeof (store as Record<string, unknown>)[m] !== 'function')) {
    throw badOptions('store', `a TokenStore (with ${STORE_METHODS.join(', ')})`)
  }
  return store as TokenStore
}

/** Wires options → config → factories into Fastify: decorators, guards, cookies, routes. */
async function authxPlugin (fastify: FastifyInstance, options: AuthxOptions): Promise<void> {
  validateShape(options)
  const config = normalise(options)
  const keys = loadKeys(options, msg => { fastify.log.warn(msg); emitAuthxWarning('FST_AUTHX_SHORT_SECRET', msg) })
  const store = options.store === undefined ? new MemoryStore({ now: config.now }) : checkStore(options.store)
  for (const problem of (store as TokenStore).warnings?.() ?? []) {
    const message = `fastify-authx: the store's Redis client would queue commands without bound: ${problem} (see the README, "Redis at scale")`
    fastify.log.warn(message)
    process.emitWarning(message, { code: 'FST_AUTHX_UNBOUNDED_QUEUE' })
  }
  if (config.tokenLocation.includes('cookies') && !config.csrf.protect) {
    fastify.log.warn('fastify-authx: cookies are a token location and CSRF protection is off; cookie-authenticated requests can be forged')
    emitAuthxWarning('FST_AUTHX_CSRF_OFF')
  }
  if (!fastify.hasReplyDecorator('setCookie')) {
    // Parsing every request's cookies costs every route about a microsecond: only when cookies carry
    // tokens. The reply helpers work either way, and guards that read cookies parse them themselves.
    const cookiesRead = config.tokenLocation.includes('cookies') || config.implicitRefresh !== false
    await fastify.register(fastifyCookie, cookiesRead ? {} : { hook: false })
  }

  const apis = await registerJwt(fastify, keys, config)
  const remote = keys.remoteAlgorithms === undefined ? undefined : new RemoteKeySet(config, keys.remoteAlgorithms, fastify.log)
  if (remote !== undefined) {
    // jwksUrl: one fetch at ready; an issuer that is down does not stop startup (tokens get 503 until it answers).
    fastify.addHook('onReady', async () => { await remote.refresh() })
    fastify.addHook('onClose', async () => { remote.close() })
  }
  const verify = createVerify(config, keys, apis, remote)
  const issue = createIssue(config, keys, apis[0], parseDuration)
  const bounded = createBounded(config.storeTimeout)
  const revocation = createRevocation(config, store, bounded)
  const sessions = createSessions(config, store, bounded, revocation, issue, fastify.log)
  const checkCsrf = createCheckCsrf(config)
  const parseCookie = (header: string): unknown => (fastify as unknown as { parseCookie: (h: string) => unknown }).parseCookie(header)
  const guard = describeGuards(createGuardFactory({ config, verify, checkCsrf, revocation, parseCookie }), config)

  function verifyToken (token: string, opts: { type?: 'access' | 'refresh' | 'any' } = {}): TokenPayload {
    const payload = verify(token)
    const want = opts.type ?? 'any'
    if (want !== 'any' && payload.type !== want) throw authError(want === 'access' ? 'FST_AUTHX_ACCESS_TOKEN_REQUIRED' : 'FST_AUTHX_REFRESH_TOKEN_REQUIRED')
    return payload as TokenPayload
  }
  const log = fastify.log

  const api: Authx = {
    guard,
    verifyToken,
    getCsrfToken: token => verify(token).csrf,
    async revokeToken (payloadOrToken) {
      let payload: Record<string, any>
      // An expired token is verified too: what was minted from it may still be alive.
      if (typeof payloadOrToken === 'string') payload = verify(payloadOrToken, true)
      else payload = payloadOrToken
      if (payload === null || typeof payload !== 'object' || typeof payload.jti !== 'string' || typeof payload[config.identityClaim] !== 'string') {
        throw badArgument('revokeToken needs a verified payload or an encoded token')
      }
      await revocation.revokeToken(payload, log)
    },
    async revokeFamily (fam) {
      await sessions.revokeFamily(fam, log)
      return true
    },
    revokeAllSessions: async sub => { await revocation.revokeAllSessions(sub, log) },
    rotateRefreshToken: async payload => await sessions.rotateRefreshToken(payload, log),
    refreshAccessToken: async payload => await sessions.refreshAccessToken(payload, log),
    createSession: async (sub, opts = {}) => await sessions.createSession(sub, opts as any, log),
    listSessions: async sub => await sessions.listSessions(sub, log),
    jwks: () => remote?.jwks() ?? jwks(keys),
    store
  }

  fastify.decorate('createAccessToken', (sub: string, opts?: any) => issue('access', sub, opts).token)
  fastify.decorate('createRefreshToken', (sub: string, opts?: any) => issue('refresh', sub, { ...opts, fresh: undefined }).token)
  fastify.decorate('createTokenPair', (sub: string, opts?: any) => sessions.createTokenPair(sub, opts))
  fastify.decorate('requireAccess', guard({ type: 'access' }))
  fastify.decorate('requireRefresh', guard({ type: 'refresh' }))
  fastify.decorate('requireFresh', guard({ type: 'access', fresh: true }))
  fastify.decorate('authx', api)

  const subjects = new WeakMap<FastifyRequest, Promise<unknown>>()
  const { getSubject } = config
  fastify.decorateRequest('tokenPayload', null as unknown as TokenPayload)
  fastify.decorateRequest('tokenLocation', null)
  fastify.decorateRequest('getSubject', function (this: FastifyRequest): Promise<any> {
    if (getSubject === undefined) return Promise.reject(new errors.FST_AUTHX_GET_SUBJECT_MISSING())
    const payload = this.tokenPayload
    // No verified token (no guard ran, or an optional one found none): the request is not authenticated.
    if (payload === null) return Promise.reject(authError('FST_AUTHX_MISSING_TOKEN'))
    let subject = subjects.get(this)
    if (subject === undefined) {
      subject = Promise.resolve().then(() => getSubject(payload[config.identityClaim as 'sub'], payload, this)).then(found => {
        if (found === null || found === undefined) throw authError('FST_AUTHX_SUBJECT_NOT_FOUND')
        return found
      }, (err: unknown) => {
        // The loader's own text may name the subject or a database: logged (class and message), never sent.
        this.log.error({ loader: { type: (err as Error)?.constructor?.name ?? typeof err, message: (err as Error)?.message } }, 'fastify-authx: getSubject failed')
        throw new errors.FST_AUTHX_SUBJECT_LOAD_FAILED()
      })
      subjects.set(this, subject)
    }
    return subject
  })

  const csrfOf = (token: string): string | undefined => {
    const claim = (apis[0] ?? remote).decode(token).payload as Record<string, unknown> | null
    return typeof claim?.csrf === 'string' ? claim.csrf : undefined
  }
  const cookies = createCookieHelpers(config, csrfOf, parseDuration)
  for (const [name, fn] of Object.entries(cookies)) fastify.decorateReply(name, fn)

  if (config.implicitRefresh !== false) {
    fastify.addHook('onSend', createImplicitRefresh({ config: config as any, verify, revocation, carried: sessions.carried, issue }))
  }

  addOpenapi(fastify)

  if (config.jwksRoute !== undefined) {
    const document = jwks(keys)
    fastify.get(config.jwksRoute, async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return document
    })
  }
}

/** The plugin: `await app.register(authx, { secret })`. */
const authx = fp(authxPlugin, { fastify: '5.x', name: 'fastify-authx' })

export default authx
export { authx }
export { errors, isAuthxError, type AuthxError, type AuthxErrorCode } from './errors'
export { warnings, type AuthxWarningCode } from './warnings'
export { MemoryStore } from './stores/memory'
export { RedisStore, type RedisClient, type RedisPipeline, type RedisStoreOptions, type ReplicaWait } from './stores/redis'
export type { TokenStore, TokenRef, TokenStatus, SessionRecord } from './stores/types'
export { TokenPayloadSchema, TokenPairSchema, AccessTokenResponseSchema, AuthErrorSchema } from './schemas'
export { AuthxOptionsSchema, type AuthxOptions, type TokenLocation, type TokenType } from './options'
export { optionsFromEnv, type EnvOptions } from './env'
export type { GuardOptions, Guard } from './guard'
export type { CookieOptions } from './cookies'
export type {
  Authx, AuthxTypes, AuthxData, AuthxSubject, RegisteredClaims, TokenPayload, CreateTokenOptions,
  TokenPair, CreateSessionOptions, SessionInfo
} from './types'

// CommonJS: `require('fastify-authx')` is the plugin itself (as with every Fastify plugin), and
// carries `default`, `authx` and the other named exports.
module.exports = Object.assign(authx, module.exports)
Object.defineProperty(module.exports, '__esModule', { value: true })
