'use strict'
// One app instance of the soak test (bench/soak.js starts two, sharing one Redis). Listens on a free
// loopback port and tells its parent { port } over IPC. Run with --expose-gc: /heap collects first.
const Fastify = require('fastify')
const authx = require('fastify-authx')

const SECRET = 'soak-secret-0123456789abcdef0123456789abcdef'

async function main () {
  const store = new authx.RedisStore({ url: process.env.REDIS_URL })
  const app = Fastify({ logger: { level: 'fatal' } })
  await app.register(authx, { secret: SECRET, store, rotation: { reuseGraceSeconds: 0 }, accessTokenExpires: '1h' })
  app.addHook('onClose', async () => { await store.close() })

  app.post('/login', async request => await app.authx.createSession(request.body.user, { request, scopes: ['read'] }))
  app.get('/protected', { onRequest: app.requireAccess }, async request => ({ sub: request.tokenPayload.sub }))
  app.get('/admin', { onRequest: app.authx.guard({ scopes: ['admin'] }) }, async () => ({ admin: true }))
  app.post('/refresh', { onRequest: app.requireRefresh }, async request => await app.authx.rotateRefreshToken(request.tokenPayload))
  app.post('/logout', { onRequest: app.requireAccess }, async request => { await app.authx.revokeToken(request.tokenPayload); return { ok: true } })
  app.post('/logout-all', { onRequest: app.requireAccess }, async request => { await app.authx.revokeAllSessions(request.tokenPayload.sub); return { ok: true } })
  app.get('/heap', async () => {
    global.gc?.()
    global.gc?.()
    return { heapUsed: process.memoryUsage().heapUsed }
  })

  await app.listen({ host: '127.0.0.1', port: 0 })
  process.send({ port: app.server.address().port })
  process.on('message', message => { if (message === 'close') app.close().then(() => process.exit(0)) })
  process.on('disconnect', () => process.exit(0))
}

main().catch(err => {
  console.error(err)
  process.exit(1)
})
