'use strict'
// The benchmark server: one Fastify app, one route per thing measured. Started by bench/run.js as a
// child process (IPC channel); it answers with { port, routes, notes, skipped } once it listens.
// Every variant that registers a plugin lives in its own encapsulated context, so /plain carries no
// hook of anyone's (fastify-authx registers @fastify/cookie, whose onRequest hook then stays inside).
const { generateKeyPairSync } = require('node:crypto')
const Fastify = require('fastify')
const fastifyJwt = require('@fastify/jwt')
const { createVerifier } = require('fast-jwt')
const authx = require('fastify-authx')
const { SECRET, mint, floorVerifier } = require('./fixtures')
const { REDIS_URL, CLUSTER_NODES, uniquePrefix, connectCluster, withTimeout } = require('./redis')

const ok = async () => ({ hello: 'world' })
const SUBJECTS = 1000

/** The floor as a hook: one HMAC-SHA256 compare, one base64url decode, one JSON.parse. Nothing else. */
function floorHook (secret) {
  const verify = floorVerifier(secret)
  return async function floor (request, reply) {
    const header = request.headers.authorization
    if (header === undefined) return reply.code(401).send()
    const payload = verify(header.slice(7))
    if (payload === null) return reply.code(401).send()
    request.user = payload
  }
}

/**
 * fast-jwt's bare verifier as a hook, and nothing else (no claim of the plugin's, no store): the least a guard
 * that verifies through fast-jwt, as this plugin must (@fastify/jwt is built on it), can cost. Beside the floor
 * and @fastify/jwt, it bounds what requireAccess can reach against each.
 */
function fastJwtHook (secret) {
  const verify = createVerifier({ key: secret, algorithms: ['HS256'] })
  return function fastJwt (request, reply, done) {
    const header = request.headers.authorization
    if (header === undefined) return reply.code(401).send()
    try {
      request.user = verify(header.slice(7))
    } catch {
      return reply.code(401).send()
    }
    done()
  }
}

/** One key pair per algorithm, made here at startup. */
const ASYMMETRIC = {
  rs256: { algorithm: 'RS256', keys: () => generateKeyPairSync('rsa', { modulusLength: 2048 }) },
  es256: { algorithm: 'ES256', keys: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }) },
  eddsa: { algorithm: 'EdDSA', keys: () => generateKeyPairSync('ed25519') }
}

/** A RedisStore on one node (a prefix of this run's own; the guard only reads) when Redis answers; else why not. */
async function nodeStore () {
  const store = new authx.RedisStore({ url: REDIS_URL, prefix: uniquePrefix('http') })
  try {
    await withTimeout(store.status({ sub: 'bench', jti: 'probe' }), 2000, REDIS_URL)
    return { store, close: () => store.close(), note: `authx-redis: RedisStore at ${REDIS_URL}` }
  } catch (err) {
    await store.close().catch(() => {})
    return { reason: `Redis at ${REDIS_URL} unreachable (${err.message})` }
  }
}

/** A RedisStore over an ioredis Cluster client (the README's "Redis at scale" setup) when the cluster answers. */
async function clusterStore () {
  let cluster
  try {
    cluster = await connectCluster(CLUSTER_NODES)
    const store = new authx.RedisStore({ client: cluster, prefix: uniquePrefix('http') })
    await withTimeout(store.status({ sub: 'bench', jti: 'probe' }), 2000, 'cluster')
    return { store, close: () => cluster.quit(), note: `authx-cluster: RedisStore on the Redis Cluster at ${CLUSTER_NODES}` }
  } catch (err) {
    cluster?.disconnect()
    const hint = process.env.REDIS_CLUSTER_NODES === undefined ? ' (REDIS_CLUSTER_NODES unset; `bash .ci/redis-cluster.sh start` starts one)' : ''
    return { reason: `Redis Cluster at ${CLUSTER_NODES} unreachable (${err.message})${hint}` }
  }
}

async function main () {
  const app = Fastify({ logger: false })
  const notes = []
  const skipped = []
  const tokens = {}

  app.get('/plain', ok)
  app.get('/empty-hook', { onRequest: async () => {} }, ok)
  app.get('/floor', { onRequest: floorHook(SECRET) }, ok)
  app.get('/fast-jwt', { onRequest: fastJwtHook(SECRET) }, ok)

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
    // A hook that does nothing, in the plugin's context (its @fastify/cookie onSend hook, its decorators): the
    // least any guard there can cost.
    child.get('/empty-authx', { onRequest: (_request, _reply, done) => { done() } }, ok)
    tokens.header = mint(child)
    app.authxMint = child
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

  const redis = { 'authx-redis': await nodeStore(), 'authx-cluster': await clusterStore() }
  for (const [name, r] of Object.entries(redis)) {
    if (r.store === undefined) { skipped.push({ name, reason: r.reason }); continue }
    notes.push(r.note)
    await app.register(async child => {
      await child.register(authx, { secret: SECRET, store: r.store })
      child.get(`/${name}`, { onRequest: child.requireAccess }, ok)
    })
    app.addHook('onClose', async () => { await r.close() })
  }

  // Asymmetric: per algorithm, requireAccess with and without verifyCache and hand-written @fastify/jwt, one key pair.
  for (const [prefix, { algorithm, keys }] of Object.entries(ASYMMETRIC)) {
    const { privateKey, publicKey } = keys()
    await app.register(async child => {
      await child.register(authx, { algorithm, privateKey })
      child.get(`/${prefix}/authx`, { onRequest: child.requireAccess }, ok)
      tokens[prefix] = mint(child)
    })
    await app.register(async child => {
      await child.register(authx, { algorithm, privateKey, verifyCache: true })
      child.get(`/${prefix}/authx-cache`, { onRequest: child.requireAccess }, ok)
    })
    await app.register(async child => {
      const pem = { private: privateKey.export({ type: 'pkcs8', format: 'pem' }), public: publicKey.export({ type: 'spki', format: 'pem' }) }
      await child.register(fastifyJwt, { secret: pem, sign: { algorithm } })
      child.get(`/${prefix}/fastify-jwt`, { onRequest: async request => { await request.jwtVerify() } }, ok)
    })
  }

  await app.listen({ host: '127.0.0.1', port: 0 })

  const bearer = token => ({ authorization: `Bearer ${token}` })
  const route = (name, what, extra = {}) => ({ name, what, method: 'GET', path: `/${name}`, headers: bearer(tokens.header), guarded: true, ...extra })
  const routes = [
    route('plain', 'no auth (the same Authorization header is sent, unread)', { guarded: false }),
    route('empty-hook', 'an empty async onRequest hook', { guarded: false }),
    route('fastify-jwt', 'hand-written await request.jwtVerify() (@fastify/jwt, HS256)'),
    route('fastify-jwt-cache', 'the same with fast-jwt\'s verify cache'),
    route('floor', 'one HMAC-SHA256 compare + base64url decode + JSON.parse'),
    route('fast-jwt', 'fast-jwt\'s bare verifier (createVerifier, HS256) as a hook, nothing else'),
    route('authx', 'onRequest: app.requireAccess (header, MemoryStore revocation check)'),
    route('authx-cache', 'requireAccess with verifyCache: true'),
    route('empty-authx', 'an onRequest hook that does nothing, in the context fastify-authx is registered in', { guarded: false }),
    route('cookie', 'POST, token in the access cookie + X-CSRF-TOKEN header', {
      method: 'POST', headers: { cookie: `access_token_cookie=${tokens.cookie}`, 'x-csrf-token': tokens.csrf }
    }),
    route('header-post', 'POST, the cookie instance\'s token in the Authorization header', {
      method: 'POST', headers: bearer(tokens.cookie)
    })
  ]
  if (redis['authx-redis'].store !== undefined) routes.push(route('authx-redis', 'requireAccess with the RedisStore, one node (one round trip)'))
  if (redis['authx-cluster'].store !== undefined) routes.push(route('authx-cluster', 'requireAccess with the RedisStore on the Redis Cluster (one round trip)'))
  // The same three stores with every request carrying the token of one of SUBJECTS subjects in turn: on a
  // Cluster the store batches reads per subject, so one subject alone would flatter it.
  const many = Array.from({ length: SUBJECTS }, (_, i) => `Bearer ${mint(app.authxMint, `user-${i}`)}`)
  const manyRoute = (name, what) => route(`${name}-${SUBJECTS}`, `${what}, ${SUBJECTS} subjects in turn`, { path: `/${name}`, headers: { authorization: many[0] }, cycle: many })
  routes.push(manyRoute('authx', 'requireAccess, MemoryStore'))
  if (redis['authx-redis'].store !== undefined) routes.push(manyRoute('authx-redis', 'requireAccess, RedisStore one node'))
  if (redis['authx-cluster'].store !== undefined) routes.push(manyRoute('authx-cluster', 'requireAccess, RedisStore on the Cluster'))
  for (const [prefix, { algorithm }] of Object.entries(ASYMMETRIC)) {
    const headers = bearer(tokens[prefix])
    routes.push(
      route(`${prefix}/authx`, `requireAccess, ${algorithm}`, { headers }),
      route(`${prefix}/authx-cache`, `requireAccess with verifyCache, ${algorithm}`, { headers }),
      route(`${prefix}/fastify-jwt`, `hand-written await request.jwtVerify(), ${algorithm}`, { headers })
    )
  }

  const tokenBytes = { header: tokens.header.length, cookie: tokens.cookie.length }
  for (const prefix of Object.keys(ASYMMETRIC)) tokenBytes[prefix] = tokens[prefix].length
  process.send({ port: app.server.address().port, routes, notes, skipped, tokenBytes, authx: require.resolve('fastify-authx') })
  process.on('disconnect', () => { app.close().finally(() => process.exit(0)) })
}

main().catch(err => { console.error(err); process.exit(1) })
