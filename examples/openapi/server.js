'use strict'
// OpenAPI with Swagger UI: nothing about security is written here. The plugin documents every guarded
// route (security requirement, bearer scheme, 401/403 responses) in the document @fastify/swagger builds.
// Run: node examples/openapi/server.js, then open http://127.0.0.1:8002/documentation
// ("Authorize" with the access_token from POST /login, then "Try it out" on GET /profile).
const { randomBytes } = require('node:crypto')
const Fastify = require('fastify')
const authx = require('fastify-authx')
const { TokenPairSchema, AccessTokenResponseSchema } = authx

const Credentials = {
  type: 'object',
  required: ['username', 'password'],
  properties: { username: { type: 'string', default: 'test' }, password: { type: 'string', default: 'test' } }
}
const Message = { type: 'object', properties: { message: { type: 'string' }, user: { type: 'string' } } }

async function build ({ secret = process.env.JWT_SECRET_KEY || randomBytes(32).toString('base64url'), logger = false } = {}) {
  const app = Fastify({ logger })
  await app.register(require('@fastify/swagger'), {
    openapi: { openapi: '3.0.3', info: { title: 'fastify-authx example', version: '1.0.0' } }
  })
  await app.register(require('@fastify/swagger-ui'), { routePrefix: '/documentation' })
  await app.register(authx, { secret })

  app.post('/login', {
    schema: { summary: 'Log in (test / test)', body: Credentials, response: { 200: TokenPairSchema } }
  }, async (request, reply) => {
    const { username, password } = request.body
    if (username !== 'test' || password !== 'test') {
      return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'Bad username/password' })
    }
    return app.createTokenPair(username, { fresh: true, scopes: ['profile:read'] })
  })

  app.post('/refresh', {
    onRequest: app.requireRefresh,
    schema: { summary: 'A new access token (send the refresh token)', response: { 200: AccessTokenResponseSchema } }
  }, async (request) => ({ access_token: app.createAccessToken(request.tokenPayload.sub) }))

  app.get('/profile', {
    onRequest: app.requireAccess,
    schema: { summary: 'Who am I (send the access token)', response: { 200: Message } }
  }, async (request) => ({ message: 'You have access to this protected resource', user: request.tokenPayload.sub }))

  app.get('/admin', {
    onRequest: app.authx.guard({ scopes: ['admin'] }),
    schema: { summary: 'Needs the admin scope', response: { 200: Message } }
  }, async () => ({ message: 'admin' }))

  app.get('/health', { schema: { summary: 'Open to all' } }, async () => ({ ok: true }))

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
