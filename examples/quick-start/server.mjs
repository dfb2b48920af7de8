import Fastify from 'fastify'
import authx, { AccessTokenResponseSchema, optionsFromEnv, TokenPairSchema } from 'fastify-authx'

const app = Fastify({ logger: true })
// AuthX's variables: JWT_SECRET_KEY, JWT_ACCESS_TOKEN_EXPIRES, JWT_TOKEN_LOCATION, …
await app.register(authx, { accessTokenExpires: '15m', refreshTokenExpires: '30d', ...optionsFromEnv() })

const Credentials = {
  type: 'object',
  required: ['username', 'password'],
  properties: { username: { type: 'string' }, password: { type: 'string' } }
}

app.post('/login', { schema: { body: Credentials, response: { 200: TokenPairSchema } } }, async (request, reply) => {
  const { username, password } = request.body
  if (username !== 'test' || password !== 'test') {
    return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'Bad username/password' })
  }
  return app.createTokenPair(username, { fresh: true })   // { access_token, refresh_token, token_type: 'bearer' }
})

app.route({
  method: ['GET', 'POST'],
  url: '/refresh',
  onRequest: app.requireRefresh,
  schema: { response: { 200: AccessTokenResponseSchema } },
  // redeems the refresh token: a logout landing while this request is in flight covers the new token too
  handler: async (request) => await app.authx.refreshAccessToken(request.tokenPayload)
})

app.get('/protected', { onRequest: app.requireAccess }, async () => ({ message: 'You have access to this protected resource' }))
app.get('/sensitive_operation', { onRequest: app.requireFresh }, async () => ({ message: 'You have access to this sensitive operation' }))

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 8000) })
