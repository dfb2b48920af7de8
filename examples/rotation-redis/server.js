'use strict'
// Refresh-token rotation with reuse detection and sessions, shared by every instance through Redis.
// Run: REDIS_URL=redis://127.0.0.1:6379 node examples/rotation-redis/server.js  (PORT defaults to 8002)
// Without REDIS_URL it falls back to the in-memory store (one instance only) and says so.
const { randomBytes } = require('node:crypto')
const Fastify = require('fastify')
const authx = require('fastify-authx')
const { MemoryStore, RedisStore } = authx

async function build ({ secret = process.env.JWT_SECRET_KEY, redisUrl = process.env.REDIS_URL, store, logger = false } = {}) {
  if (!secret) {
    secret = randomBytes(32).toString('base64url')
    console.log('JWT_SECRET_KEY is not set: using a random secret (tokens will not survive a restart, nor work across instances)')
  }
  let owned = false
  if (store === undefined) {
    if (redisUrl) { store = new RedisStore({ url: redisUrl }); owned = true } else {
      console.log('REDIS_URL is not set: using the in-memory store (revocations and rotation are not shared between instances)')
      store = new MemoryStore()
    }
  }
  const app = Fastify({ logger, trustProxy: true })
  await app.register(authx, { secret, store, rotation: { reuseGraceSeconds: 10, maxSessionAge: '30d' } })
  if (owned) app.addHook('onClose', async () => { await store.close() })

  // Log in: a new session (a token family), recorded with the user agent and IP.
  app.post('/login', async (request, reply) => {
    const { username, password } = request.body ?? {}
    if (username !== 'test' || password !== 'test') {
      return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'Bad username/password' })
    }
    return await app.authx.createSession(username, { request, fresh: true })
  })

  // Refresh with rotation: the refresh token is redeemed once; presenting it again after the grace
  // window ends the whole session (FST_AUTHX_REFRESH_TOKEN_REUSED).
  app.post('/refresh', { onRequest: app.requireRefresh }, async (request) =>
    await app.authx.rotateRefreshToken(request.tokenPayload))

  app.get('/protected', { onRequest: app.requireAccess }, async (request) =>
    ({ message: `Hello ${request.tokenPayload.sub}` }))

  // Log out of this session: its access and refresh tokens stop working on every instance.
  app.post('/logout', { onRequest: app.requireAccess }, async (request) => {
    await app.authx.revokeFamily(request.tokenPayload)
    return { ok: true }
  })

  // Log out everywhere: every token of this user issued until now.
  app.post('/logout-all', { onRequest: app.requireFresh }, async (request) => {
    await app.authx.revokeAllSessions(request.tokenPayload.sub)
    return { ok: true }
  })

  app.get('/sessions', { onRequest: app.requireAccess }, async (request) =>
    await app.authx.listSessions(request.tokenPayload.sub))

  return app
}

module.exports = { build }

if (require.main === module) {
  const host = process.env.HOST || '127.0.0.1'
  const port = Number(process.env.PORT || 8002)
  build({ logger: true })
    .then(app => app.listen({ host, port }))
    .catch(err => { console.error(err); process.exit(1) })
}
