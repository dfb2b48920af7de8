import fastifyCookie from '@fastify/cookie'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { createCookieHelpers } from './cookies'
import { createCheckCsrf } from './csrf'
import { createCsrfOf } from './decoder'
import { createGuardFactory } from './guard'
import { createImplicitRefresh } from './implicit-refresh'
import { RemoteKeySet } from './jwks'
import { registerJwt } from './jwt'
import { jwks, loadKeys } from './keys'
import { addOpenapi, describeGuards } from './openapi'
import { normalise, parseDuration, validateShape, type AuthxOptions } from './options'
import { createRevocation } from './revocation'
import { createSessions } from './sessions'
import { createIssue } from './signer'
import { createBounded, storeOf } from './store-calls'
import { createGetSubject } from './subject'
import type { Authx, TokenPayload } from './types'
import { createVerify, createVerifyToken } from './verifier'
import { warnAtRegister, warnUnboundedQueue } from './warnings'

/** Wires options → config → factories → decorators; every concept lives in its own module. */
async function authxPlugin (fastify: FastifyInstance, options: AuthxOptions): Promise<void> {
  validateShape(options)
  const config = normalise(options)
  const log = fastify.log
  const keys = loadKeys(options, message => { warnAtRegister(log, 'FST_AUTHX_SHORT_SECRET', message) })
  const store = storeOf(options.store, config.now)
  for (const problem of store.warnings?.() ?? []) {
    warnUnboundedQueue(log, problem)
  }
  if (config.tokenLocation.includes('cookies') && !config.csrf.protect) {
    warnAtRegister(log, 'FST_AUTHX_CSRF_OFF', 'fastify-authx: cookies are a token location and CSRF protection is off; cookie-authenticated requests can be forged')
  }
  if (!fastify.hasReplyDecorator('setCookie')) {
    // Parsing every request's cookies costs every route about a microsecond: only when cookies carry
    // tokens. The reply helpers work either way, and guards that read cookies parse them themselves.
    const cookiesRead = config.tokenLocation.includes('cookies') || config.implicitRefresh !== false
    await fastify.register(fastifyCookie, cookiesRead ? {} : { hook: false })
  }

  const apis = await registerJwt(fastify, keys, config)
  const remote = keys.remoteAlgorithms === undefined ? undefined : new RemoteKeySet(config, keys.remoteAlgorithms, log)
  if (remote !== undefined) {
    // jwksUrl: one fetch at ready; an issuer that is down does not stop startup (tokens get 503 until it answers).
    fastify.addHook('onReady', async () => { await remote.refresh() })
    fastify.addHook('onClose', async () => { remote.close() })
  }
  const verify = createVerify(config, keys, apis, remote)
  const issue = createIssue(config, keys, apis[0], parseDuration)
  const bounded = createBounded(config.storeTimeout)
  const revocation = createRevocation(config, store, bounded)
  const sessions = createSessions(config, store, bounded, revocation, issue, log)
  const checkCsrf = createCheckCsrf(config.types, config.csrf.checkForm)
  const parseCookie = (header: string): unknown => fastify.parseCookie(header)
  const guard = describeGuards(createGuardFactory({ config, verify, checkCsrf, revocation, parseCookie }), config)

  const api: Authx = {
    guard,
    verifyToken: createVerifyToken(verify),
    getCsrfToken: token => verify(token).csrf,
    // An encoded token is verified even when expired: what was minted from it may still be alive.
    revokeToken: async payloadOrToken => { await revocation.revokeToken(typeof payloadOrToken === 'string' ? verify(payloadOrToken, true) : payloadOrToken, log) },
    revokeFamily: async family => { await sessions.revokeFamily(family, log); return true },
    revokeAllSessions: async sub => { await revocation.revokeAllSessions(sub, log) },
    rotateRefreshToken: async payload => await sessions.rotateRefreshToken(payload, log),
    refreshAccessToken: async payload => await sessions.refreshAccessToken(payload, log),
    createSession: async (sub, opts = {}) => await sessions.createSession(sub, opts, log),
    listSessions: async sub => await sessions.listSessions(sub, log),
    jwks: () => remote?.jwks() ?? jwks(keys),
    store
  }

  fastify.decorate('createAccessToken', (sub, opts) => issue('access', sub, opts).token)
  fastify.decorate('createRefreshToken', (sub, opts) => issue('refresh', sub, { ...opts, fresh: undefined }).token)
  fastify.decorate('createTokenPair', (sub, opts) => sessions.createTokenPair(sub, opts))
  fastify.decorate('requireAccess', guard({ type: 'access' }))
  fastify.decorate('requireRefresh', guard({ type: 'refresh' }))
  fastify.decorate('requireFresh', guard({ type: 'access', fresh: true }))
  fastify.decorate('authx', api)

  // null on requests no guard accepted; typed as present for the guarded handlers that read it.
  fastify.decorateRequest('tokenPayload', null as unknown as TokenPayload)
  fastify.decorateRequest('tokenLocation', null)
  fastify.decorateRequest('getSubject', createGetSubject(config))

  const cookies = createCookieHelpers({ cookies: config.cookies, types: config.types, pairCsrf: config.csrf.pairCookies }, createCsrfOf(apis[0] ?? remote), parseDuration)
  for (const [name, fn] of Object.entries(cookies)) fastify.decorateReply(name, fn)

  if (config.implicitRefresh !== false) {
    fastify.addHook('onSend', createImplicitRefresh({ config, implicitRefresh: config.implicitRefresh, verify, revocation, carried: sessions.carried, issue }))
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
export { AuthxOptionsSchema, type AuthxOptions, type AlgorithmName, type PreviousSecret, type TokenLocation, type TokenType } from './options'
export { optionsFromEnv, type EnvOptions } from './env'
export type { CookieOptions } from './cookies'
export type { AccessTokenResponse, GuardOptions, Guard, RegisteredClaims, TokenPair } from './schemas'
export type {
  Authx, AuthxTypes, AuthxData, AuthxSubject, TokenPayload, CreateTokenOptions, CreateSessionOptions, SessionInfo
} from './types'

// CommonJS: `require('fastify-authx')` is the plugin itself (as with every Fastify plugin), and
// carries `default`, `authx` and the other named exports.
module.exports = Object.assign(authx, module.exports)
Object.defineProperty(module.exports, '__esModule', { value: true })
