'use strict'
// The benchmark server: one Fastify app, one route per thing measured. Started by bench/run.js as a
// child process (IPC channel); it answers with { port, routes, notes } once it listens.
// Every variant that registers a plugin lives in its own encapsulated context, so /plain carries no
// hook of anyone's (fastify-authx registers @fastify/cookie, whose onRequest hook then stays inside).
const { createHmac, createSecretKey, timingSafeEqual } = require('node:crypto')
const Fastify = require('fastify')
const fastifyJwt = require('@fastify/jwt')
const authx = require('fastify-authx')

const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef'
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const TOKEN_BYTES = 310
const ok = async () => ({ hello: 'world' })

/** An access token minted by the plugin, padded through a small data claim to TOKEN_BYTES. */
function mint (app) {
  let pad = ''
  for (;;) {
    const token = app.createAccessToken('user-4821', { fresh: true, expiresIn: '2h', data: { role: 'editor', org: pad } })
    if (token.length >= TOKEN_BYTES) return token
    pad += 'x'
  }
}

/** The floor: one HMAC-SHA256 compare, one base64url decode, one JSON.parse. Nothing else. */
function floorHook (secret) {
  const key = createSecretKey(Buffer.from(secret))
  return async function floor (request, reply) {
    const header = request.headers.authorization
    if (header === undefined) return reply.code(401).send()
    const token = header.slice(7)
    const dot1 = token.indexOf('.')
    const dot2 = token.indexOf('.', dot1 + 1)
    const mac = createHmac('sha256', key).update(token.slice(0, dot2)).digest()
    const sig = Buffer.from(token.slice(dot2 + 1), 'base64url')
    if (sig.length !== mac.length || !timingSafeEqual(mac, sig)) return reply.code(401).send()
    request.user = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString())
  }
}

/** The RedisStore when the build exports it and Redis answers; else a note saying why not. */
async function redisStore () {
  const { RedisStore } = authx
  if (typeof RedisStore !== 'function') return { note: 'authx-redis skipped: this build does not export RedisStore' }
  let store
  try {
    store = new RedisStore({ url: REDIS_URL })
    const timeout = new Promise((_resolve, reject) => setTimeout(reject, 2000, new Error('no answer in 2 s')).unref())
    await Promise.race([store.status({ sub: 'bench', jti: 'probe' }), timeout])
    return { store, note: `authx-redis: RedisStore at ${REDIS_URL}` }
  } catch (err) {
    await store?.close().catch(() => {})
    return { note: `authx-redis skipped: ${REDIS_URL} unreachable (${err.message})` }
  }
}

async function main () {
  const app = Fastify({ logger: false })
  const notes = []
  const tokens = {}

  app.get('/plain', ok)
  app.get('/empty-hook', { onRequest: async () => {} }, ok)
  app.get('/floor', { onRequest: floorHook(SECRET) }, ok)

  await app.register(async child => {
    await child.register(fastifyJwt, { secret: SECRET })
    child.get('/fastify-jwt', { onRequest: async request => { await request.jwtVerify() } }, ok)
  })
  await app.register(async child => {
    await child.register(fastifyJwt, { secret: SECRET, verify: { cache: true } })
    child.get('/fastify-jwt-cache', { onRequest: async request => { await request.jwtVerify() } }, ok)
  })
  await app.register(async child => {
    await child.register(authx, { secret: SECRET })
    child.get('/authx', { onRequest: child.requireAccess }, ok)
    tokens.header = mint(child)
  })
  await app.register(async child => {
    await child.register(authx, { secret: SECRET, verifyCache: true })
    child.get('/authx-cache', { onRequest: child.requireAccess }, ok)
  })
  await app.register(async child => {
    await child.register(authx, { secret: SECRET, tokenLocation: ['cookies'] })
    child.post('/cookie', { onRequest: child.requireAccess }, ok)
    child.post('/header-post', { onRequest: child.authx.guard({ locations: ['headers'] }) }, ok)
    // This instance writes a `csrf` claim; the same token serves both routes, so only the transport differs.
    tokens.cookie = mint(child)
    tokens.csrf = child.authx.getCsrfToken(tokens.cookie)
  })
  const redis = await redisStore()
  notes.push(redis.note)
  if (redis.store !== undefined) {
    await app.register(async child => {
      await child.register(authx, { secret: SECRET, store: redis.store })
      child.get('/authx-redis', { onRequest: child.requireAccess }, ok)
    })
    app.addHook('onClose', async () => { await redis.store.close() })
  }

  await app.listen({ host: '127.0.0.1', port: 0 })

  const bearer = { authorization: `Bearer ${tokens.header}` }
  const route = (name, what, extra = {}) => ({ name, what, method: 'GET', path: `/${name}`, headers: bearer, guarded: true, ...extra })
  const routes = [
    route('plain', 'no auth (the same Authorization header is sent, unread)', { guarded: false }),
    route('empty-hook', 'an empty async onRequest hook', { guarded: false }),
    route('fastify-jwt', 'hand-written await request.jwtVerify() (@fastify/jwt, HS256)'),
    route('fastify-jwt-cache', 'the same with fast-jwt\'s verify cache'),
    route('floor', 'one HMAC-SHA256 compare + base64url decode + JSON.parse'),
    route('authx', 'onRequest: app.requireAccess (header, MemoryStore revocation check)'),
    route('authx-cache', 'requireAccess with verifyCache: true'),
    route('cookie', 'POST, token in the access cookie + X-CSRF-TOKEN header', {
      method: 'POST', headers: { cookie: `access_token_cookie=${tokens.cookie}`, 'x-csrf-token': tokens.csrf }
    }),
    route('header-post', 'POST, the cookie instance\'s token in the Authorization header', {
      method: 'POST', headers: { authorization: `Bearer ${tokens.cookie}` }
    })
  ]
  if (redis.store !== undefined) routes.push(route('authx-redis', 'requireAccess with the RedisStore (one round trip)'))

  process.send({ port: app.server.address().port, routes, notes, tokenBytes: { header: tokens.header.length, cookie: tokens.cookie.length } })
  process.on('disconnect', () => { app.close().finally(() => process.exit(0)) })
}

main().catch(err => { console.error(err); process.exit(1) })
