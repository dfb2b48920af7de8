'use strict'
// Explicit refresh: the client keeps both tokens and calls /refresh with the refresh token
// when the access token expires. Run: npm start (HOST and PORT default to 127.0.0.1:8000).
const { randomBytes } = require('node:crypto')
const Fastify = require('fastify')
const authx = require('fastify-authx')
const { optionsFromEnv } = authx

// Configuration comes from AuthX's JWT_* variables (JWT_SECRET_KEY, JWT_ACCESS_TOKEN_EXPIRES, ...);
// with none set, the defaults below and a random secret.
async function build ({ env = process.env, logger = false } = {}) {
  const options = { accessTokenExpires: '15m', refreshTokenExpires: '30d', ...optionsFromEnv(env) }
  if (options.secret === undefined && options.privateKey === undefined && options.publicKey === undefined && options.jwksUrl === undefined) {
    options.secret = randomBytes(32).toString('base64url')
    console.log('JWT_SECRET_KEY is not set: using a random secret (tokens will not survive a restart)')
  }
  const app = Fastify({ logger })
  await app.register(authx, options)

  app.post('/login', { schema: { response: { 200: authx.TokenPairSchema } } }, async (request, reply) => {
    const { username, password } = request.body ?? {}
    if (username !== 'test' || password !== 'test') {
      return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'Bad username/password' })
    }
    return app.createTokenPair(username, { fresh: true })
  })

  // The walk-through calls /refresh with a plain GET; the code declares POST: both work.
  app.route({
    method: ['GET', 'POST'],
    url: '/refresh',
    onRequest: app.requireRefresh,
    // redeems the refresh token: a logout landing while this request is in flight covers the new token too
    handler: async (request) => await app.authx.refreshAccessToken(request.tokenPayload)
  })

  app.get('/protected', { onRequest: app.requireAccess }, async () => ({ message: 'You have access to this protected resource' }))

  app.get('/sensitive_operation', { onRequest: app.requireFresh }, async () => ({ message: 'You have access to this sensitive operation' }))

  return app
}

module.exports = { build }

if (require.main === module) {
  const host = process.env.HOST || '127.0.0.1'
  const port = Number(process.env.PORT || 8000)
  build({ logger: true })
    .then(app => app.listen({ host, port }))
    .catch(err => { console.error(err); process.exit(1) })
}
