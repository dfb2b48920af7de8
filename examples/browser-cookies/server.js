'use strict'
// Browser app with cookies: the tokens live in HttpOnly cookies the page's script cannot read; the
// page echoes the readable CSRF cookie in X-CSRF-TOKEN on unsafe requests (double submit).
// Run: node examples/browser-cookies/server.js (HOST and PORT default to 127.0.0.1:8001), then open
// http://127.0.0.1:8001 with INSECURE_COOKIES=1 (see below), or behind HTTPS without it.
const { readFileSync } = require('node:fs')
const { randomBytes } = require('node:crypto')
const { join } = require('node:path')
const Fastify = require('fastify')
const authx = require('fastify-authx')

const page = readFileSync(join(__dirname, 'index.html'))
const script = readFileSync(join(__dirname, 'app.js'))

async function build ({
  secret = process.env.JWT_SECRET_KEY,
  logger = false,
  // Token cookies are `Secure` by default, and browsers refuse Secure cookies over plain http: some
  // (Chromium, for one) make an exception for localhost and 127.0.0.1, not all, and none for a LAN
  // address or a container's name. Turn it off only when the page really is served over plain http,
  // as in local development and the e2e test; never in production.
  insecureCookies = process.env.INSECURE_COOKIES === '1',
  accessTokenExpires = '15m',
  refreshTokenExpires = '30d',
  // e.g. true or { deltaTime: 120 }: requests whose access cookie is about to expire get a new one
  implicitRefresh = false
} = {}) {
  if (!secret) {
    secret = randomBytes(32).toString('base64url')
    console.log('JWT_SECRET_KEY is not set: using a random secret (tokens will not survive a restart)')
  }
  const app = Fastify({ logger })
  await app.register(authx, {
    secret,
    tokenLocation: ['cookies'],
    cookies: { secure: !insecureCookies },
    accessTokenExpires,
    refreshTokenExpires,
    implicitRefresh
  })

  // Counted so that a test can prove the page never had to call /refresh itself.
  let refreshCalls = 0

  app.get('/', (request, reply) => { reply.type('text/html; charset=utf-8').send(page) })
  app.get('/app.js', (request, reply) => { reply.type('text/javascript; charset=utf-8').send(script) })

  app.post('/login', async (request, reply) => {
    const { username, password } = request.body ?? {}
    if (username !== 'test' || password !== 'test') {
      return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'Bad username/password' })
    }
    const { access_token: access, refresh_token: refresh } = app.createTokenPair(username, { fresh: true })
    reply.setAccessCookies(access).setRefreshCookies(refresh)
    return { user: username }
  })

  app.get('/api/me', { onRequest: app.requireAccess }, async request => ({ user: request.tokenPayload.sub }))

  // POST with a cookie token: the guard also checks the X-CSRF-TOKEN header.
  app.post('/api/echo', { onRequest: app.requireAccess }, async request => ({ user: request.tokenPayload.sub, echoed: request.body ?? null }))

  app.post('/refresh', { onRequest: app.requireRefresh }, async (request, reply) => {
    refreshCalls++
    reply.setAccessCookies(app.createAccessToken(request.tokenPayload.sub, { fresh: false }))
    return { refreshed: true }
  })

  // No guard: logging out must work with expired or missing tokens too.
  app.post('/logout', async (request, reply) => {
    reply.unsetCookies()
    return { ok: true }
  })

  app.get('/stats', async () => ({ refreshCalls }))

  return app
}

module.exports = { build }

if (require.main === module) {
  const host = process.env.HOST || '127.0.0.1'
  const port = Number(process.env.PORT || 8001)
  build({ logger: true })
    .then(app => app.listen({ host, port }))
    .catch(err => { console.error(err); process.exit(1) })
}
