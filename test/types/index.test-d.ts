import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { expectAssignable, expectError, expectType } from 'tsd'
import { Cluster, Redis } from 'ioredis'
import type { Static } from '@sinclair/typebox'
import authx, {
  errors, isAuthxError, warnings, MemoryStore, RedisStore, TokenPayloadSchema, TokenPairSchema, AccessTokenResponseSchema,
  type AccessTokenResponse, type AlgorithmName, type PreviousSecret, type RegisteredClaims,
  type AuthxError, type AuthxErrorCode, type RedisClient, type TokenPair, type TokenPayload, type TokenStore, type SessionInfo, type TokenLocation
} from 'fastify-authx'

interface User { id: string, name: string }

// Declaration merging: the app's own claims and subject flow to the request.
declare module 'fastify-authx' {
  interface AuthxTypes {
    data: { role: 'admin' | 'user' }
    subject: User
  }
}

const app = Fastify()
void app.register(authx, { secret: 'x'.repeat(32), getSubject: async (sub: string) => ({ id: sub, name: 'A' }) })

expectType<string>(app.createAccessToken('alice', { fresh: true, data: { role: 'admin' }, scopes: ['read'] }))
expectType<string>(app.createRefreshToken('alice'))
expectType<TokenPair>(app.createTokenPair('alice'))
expectError(app.createAccessToken('alice', { data: { role: 'root' } }))
expectError(app.createAccessToken(42))

app.get('/me', { onRequest: app.requireAccess }, async (request: FastifyRequest) => {
  expectType<'admin' | 'user'>(request.tokenPayload.role)
  expectType<string>(request.tokenPayload.sub)
  expectType<'access' | 'refresh'>(request.tokenPayload.type)
  expectType<string[] | undefined>(request.tokenPayload.scopes)
  expectType<TokenLocation | null>(request.tokenLocation)
  expectType<User>(await request.getSubject())
  return 'ok'
})

app.post('/refresh', { preHandler: app.requireRefresh }, async () => 'ok')
app.get('/fresh', { preValidation: app.requireFresh }, async () => 'ok')
app.get('/admin', { onRequest: app.authx.guard({ scopes: ['admin:*'], allScopes: false, type: 'any', optional: true, csrf: false, checkRevoked: true, locations: ['headers', 'cookies'] }) }, async () => 'ok')
expectError(app.authx.guard({ type: 'id' }))
app.addHook('onRequest', app.requireAccess)

app.post('/login', async (_request, reply: FastifyReply) => {
  const pair = await app.authx.createSession('alice', { data: { role: 'user' } })
  expectType<FastifyReply>(reply.setAccessCookies(pair.access_token).setRefreshCookies(pair.refresh_token, { maxAge: '20d' }))
  reply.unsetAccessCookies().unsetRefreshCookies().unsetCookies()
  expectType<SessionInfo[]>(await app.authx.listSessions('alice'))
  expectType<TokenPair>(await app.authx.rotateRefreshToken({} as TokenPayload))
  expectType<boolean>(await app.authx.revokeFamily('fam'))
  expectType<void>(await app.authx.revokeToken('a.b.c'))
  expectType<void>(await app.authx.revokeAllSessions('alice'))
  expectType<string | undefined>(app.authx.getCsrfToken(pair.access_token))
  expectType<TokenPayload>(app.authx.verifyToken(pair.access_token, { type: 'access' }))
  return pair
})

expectAssignable<TokenStore>(new MemoryStore())
expectAssignable<TokenStore>(new RedisStore({ url: 'redis://127.0.0.1:6379' }))
// Real ioredis clients fit the structural RedisClient type (the package's types never import ioredis).
expectAssignable<RedisClient>(new Redis({ lazyConnect: true }))
expectAssignable<RedisClient>(new Cluster([], { lazyConnect: true }))
expectAssignable<TokenStore>(new RedisStore({ client: new Redis({ lazyConnect: true }), prefix: 'app:' }))
expectType<'object'>(TokenPayloadSchema.type)

const err = {} as AuthxError
if (err.code === 'FST_AUTHX_TOKEN_EXPIRED') expectType<'FST_AUTHX_TOKEN_EXPIRED'>(err.code)
expectAssignable<AuthxErrorCode>('FST_AUTHX_MISSING_TOKEN')
expectError<AuthxErrorCode>('FST_AUTHX_NOPE')
expectType<'FST_AUTHX_MISSING_TOKEN'>(new errors.FST_AUTHX_MISSING_TOKEN().code)

// isAuthxError narrows an unknown error; warnings are exported with their codes.
const caught: unknown = new Error('x')
if (isAuthxError(caught)) expectType<AuthxErrorCode>(caught.code)
expectType<'FST_AUTHX_SHORT_SECRET' | 'FST_AUTHX_CSRF_OFF' | 'FST_AUTHX_INSECURE_JWKS_URL' | 'FST_AUTHX_ENV_IGNORED'>({} as keyof typeof warnings)

// getSubject is typed by AuthxTypes['subject']: a loader may resolve null (→ 401), never another type.
expectError(Fastify().register(authx, { secret: 'x'.repeat(32), getSubject: async () => ({ id: 1 }) }))
void Fastify().register(authx, { secret: 'x'.repeat(32), getSubject: async () => null })
void Fastify().register(authx, { secret: 'x'.repeat(32), getSubject: (sub, payload) => ({ id: sub, name: payload.role }) })

// OpenAPI: a route names the guard a context-wide hook runs.
app.get('/ctx', { config: { authxGuard: app.requireAccess } }, async () => 'ok')
app.get('/ctx2', { config: { authxGuard: [app.requireAccess, app.authx.guard({ scopes: ['a'] })] } }, async () => 'ok')
expectError(app.get('/ctx3', { config: { authxGuard: 'requireAccess' } }, async () => 'ok'))

// The types the public options and answers use are exported, and derived from the exported schemas.
{
  const algorithm: AlgorithmName = 'ES256'
  expectError<AlgorithmName>('none')
  const previous: PreviousSecret[] = [{ secret: 'y'.repeat(32), keyId: '2025-q4' }]
  void Fastify().register(authx, { secret: 'x'.repeat(32), keyId: '2026-q1', previousSecret: previous })
  void Fastify().register(authx, { privateKey: 'pem', publicKey: 'pem', algorithm })
  expectType<Static<typeof TokenPairSchema>>({} as TokenPair)
  expectAssignable<TokenPair>({ access_token: 'a', refresh_token: 'r', token_type: 'bearer' })
  expectError<TokenPair>({ access_token: 'a', refresh_token: 'r', token_type: 'Bearer' })
  expectType<Promise<AccessTokenResponse>>(app.authx.refreshAccessToken({} as TokenPayload))
  expectType<Static<typeof AccessTokenResponseSchema>>({} as AccessTokenResponse)
  const claims: RegisteredClaims = { sub: 's', type: 'access', jti: 'j', iat: 1 }
  expectAssignable<RegisteredClaims>({ ...claims, fam: 'f', aud: ['a', 'b'] })
  expectError<RegisteredClaims>({ ...claims, type: 'id' })
}
