// Recipe: @fastify/rate-limit that also counts requests with rejected tokens.
import rateLimit from '@fastify/rate-limit'
import Fastify, { type FastifyRequest } from 'fastify'
import authx from 'fastify-authx'

export async function build (secret: string, max = 5) {
  const app = Fastify()
  await app.register(authx, { secret })
  // readme:start
  await app.register(rateLimit, { global: false })

  // By subject when the request carries a valid access token, by IP otherwise (bad tokens included).
  function subjectOrIp (request: FastifyRequest): string {
    const [scheme, token] = (request.headers.authorization ?? '').split(' ')
    if (scheme.toLowerCase() === 'bearer' && token) {
      try { return `sub:${app.authx.verifyToken(token, { type: 'access' }).sub}` } catch {}
    }
    return `ip:${request.ip}`
  }

  // rate-limit's hook runs at onRequest, after the route's own onRequest hooks:
  // guards go one stage later (preValidation) so that rejected tokens are counted too.
  app.post('/login', { config: { rateLimit: { max, timeWindow: '1 minute' } } }, async (request, reply) => {
    const { username, password } = (request.body ?? {}) as { username?: string, password?: string }
    if (username !== 'test' || password !== 'test') return reply.code(401).send({ message: 'Bad username/password' })
    return app.createTokenPair(username, { fresh: true })
  })
  app.post('/refresh', {
    config: { rateLimit: { max, timeWindow: '1 minute' } },   // by IP
    preValidation: app.requireRefresh
  }, async (request) => ({ access_token: app.createAccessToken(request.tokenPayload.sub) }))
  app.get('/orders', {
    config: { rateLimit: { max, timeWindow: '1 minute', keyGenerator: subjectOrIp } },
    preValidation: app.requireAccess
  }, async (request) => ({ orders: [], for: request.tokenPayload.sub }))
  // readme:end
  return app
}
