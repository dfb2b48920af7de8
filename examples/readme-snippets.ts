// The README's TypeScript snippets, verbatim where possible, so `npm test` type-checks them
// (tsc covers examples/). Free names the README leaves to the reader are declared first.
// The declaration-merging snippet lives in test/types/index.test-d.ts: merging here would retype every test.
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import authx, { AuthErrorSchema, errors, optionsFromEnv, RedisStore, TokenPairSchema, type AuthxError } from '../lib/index'

declare const handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>
declare const loginHandler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>
declare const listOrders: (sub: string) => Promise<unknown[]>
declare const user: { id: string, scopes: string[] }
declare const secret: string

export async function registering (): Promise<void> {
  const app = Fastify()
  await app.register(authx, { secret: process.env.JWT_SECRET_KEY! })
}

export async function asymmetric (): Promise<void> {
  const app = Fastify()
  await app.register(authx, {
    algorithm: 'ES256',
    privateKey: process.env.JWT_PRIVATE_KEY!,
    previousPublicKeys: [process.env.JWT_OLD_PUBLIC_KEY!],
    decodeAlgorithms: ['ES256', 'RS256'],
    jwksRoute: '/.well-known/jwks.json'
  })
}

export async function theClock (): Promise<void> {
  const app = Fastify()
  let at = Date.now()
  await app.register(authx, { secret, now: () => at })
  const token = app.createAccessToken('alice', { expiresIn: 60 })
  at += 60_000
  void token
}

export async function revocation (): Promise<void> {
  const app = Fastify()
  await app.register(authx, { secret, rotation: true })
  app.post('/logout', { onRequest: app.requireAccess }, async (request) => {
    await app.authx.revokeFamily(request.tokenPayload)
    return { ok: true }
  })
  app.delete('/admin/sessions/:fam', async (request, reply) => {
    const { fam } = request.params as { fam: string }
    try {
      await app.authx.revokeFamily(fam)
    } catch (err) {
      if ((err as AuthxError).code === 'FST_AUTHX_UNKNOWN_FAMILY') return reply.code(404).send({ unknown: fam })
      throw err
    }
    return { ok: true }
  })
}

export async function tokensAndGuards (): Promise<void> {
  const app = Fastify()
  await app.register(authx, { secret })
  const token: string = app.createAccessToken('42', { fresh: true, scopes: ['orders:read'], data: { role: 'admin' }, expiresIn: '5m' })
  void token

  app.get('/protected', { onRequest: app.requireAccess }, handler)
  app.post('/refresh', { onRequest: app.requireRefresh }, handler)
  app.post('/password', { onRequest: app.requireFresh }, handler)
  app.get('/admin', { onRequest: app.authx.guard({ scopes: ['admin:*'] }) }, handler)
  app.get('/feed', { onRequest: app.authx.guard({ optional: true }) }, handler)

  await app.register(async (api) => {
    api.addHook('onRequest', api.requireAccess)
    api.get('/orders', async (request) => await listOrders(request.tokenPayload.sub))
  })

  app.setErrorHandler((err: AuthxError, _request, reply) => {
    if (err.code === 'FST_AUTHX_TOKEN_EXPIRED') return reply.code(401).send({ expired: true })
    reply.send(err)
  })
  const isExpired = (err: unknown) => err instanceof errors.FST_AUTHX_TOKEN_EXPIRED
  void isExpired

  app.post('/login', { schema: { response: { 200: TokenPairSchema, 401: AuthErrorSchema } } }, loginHandler)
}

export async function revocationRotationSessions (request: FastifyRequest): Promise<void> {
  const app = Fastify()
  await app.register(authx, { secret, rotation: { reuseGraceSeconds: 10, maxSessionAge: '30d' } })
  const fam = 'a-family-id'
  const sub = 'alice'
  await app.authx.revokeToken(request.tokenPayload)
  await app.authx.revokeFamily(request.tokenPayload)
  await app.authx.revokeFamily(fam)
  await app.authx.revokeAllSessions(sub)

  app.post('/refresh', { onRequest: app.requireRefresh }, async (request) =>
    await app.authx.rotateRefreshToken(request.tokenPayload))

  app.post('/login', async (request) => {
    return await app.authx.createSession(user.id, { request, fresh: true, scopes: user.scopes })
  })
  app.get('/sessions', { onRequest: app.requireAccess }, async (request) =>
    await app.authx.listSessions(request.tokenPayload.sub))
  app.delete('/sessions/:fam', { onRequest: app.requireFresh }, async (request) => {
    const { fam } = request.params as { fam: string }
    await app.authx.revokeFamily({ sub: request.tokenPayload.sub, fam })
    return { ok: true }
  })
}

export async function redis (): Promise<void> {
  const app = Fastify()
  const store = new RedisStore({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' })
  await app.register(authx, { secret, rotation: true, store })
  app.addHook('onClose', async () => { await store.close() })
}

export async function implicitRefresh (): Promise<void> {
  const app = Fastify()
  await app.register(authx, {
    secret,
    tokenLocation: ['cookies'],
    accessTokenExpires: '15m',
    implicitRefresh: { deltaTime: 600, routeExclude: ['/logout'], methodExclude: [] }
  })
}

export async function browserCookies (): Promise<void> {
  const app = Fastify()
  await app.register(authx, { secret, tokenLocation: ['cookies'], implicitRefresh: true })

  app.post('/login', async (_request, reply) => {
    const pair = app.createTokenPair('alice', { fresh: true })
    reply.setAccessCookies(pair.access_token).setRefreshCookies(pair.refresh_token)
    return { user: 'alice' }
  })
  app.post('/refresh', { onRequest: app.requireRefresh }, async (request, reply) => {
    reply.setAccessCookies(app.createAccessToken(request.tokenPayload.sub))
    return { refreshed: true }
  })
  app.post('/logout', async (_request, reply) => { reply.unsetCookies(); return { ok: true } })
}

export async function jwksUrlVerifier (): Promise<void> {
  const issuer = Fastify()
  await issuer.register(authx, { algorithm: 'ES256', privateKey: process.env.JWT_PRIVATE_KEY!, jwksRoute: '/.well-known/jwks.json' })

  const api = Fastify()
  await api.register(authx, {
    jwksUrl: 'https://auth.internal/.well-known/jwks.json',
    decodeAlgorithms: ['ES256', 'EdDSA'],
    decodeIssuer: 'https://auth.internal',
    decodeAudience: 'orders-api',
    jwks: { timeout: 2000, cooldown: '30s' }
  })
  api.get('/orders', { onRequest: api.requireAccess }, handler)
}

export async function fromEnvironment (): Promise<void> {
  const app = Fastify()
  await app.register(authx, optionsFromEnv())
  const other = Fastify()
  await other.register(authx, { accessTokenExpires: '15m', ...optionsFromEnv() })
  const log = other.log
  optionsFromEnv(process.env, { warn: msg => log.warn(msg) })
}

export async function rotation (): Promise<void> {
  const [OLD, NEW] = [process.env.JWT_OLD_SECRET!, process.env.JWT_SECRET_KEY!]
  const step1 = Fastify()
  await step1.register(authx, { secret: OLD, keyId: 'k1', previousSecret: { secret: NEW, keyId: 'k2' } })
  const step2 = Fastify()
  await step2.register(authx, { secret: NEW, keyId: 'k2', previousSecret: { secret: OLD, keyId: 'k1' } })
  const step3 = Fastify()
  await step3.register(authx, { secret: NEW, keyId: 'k2' })
}
