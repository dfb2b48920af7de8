// Recipe: @fastify/auth combining a guard with another strategy.
import fastifyAuth from '@fastify/auth'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import authx from 'fastify-authx'

export async function build (secret: string, apiKeys: Set<string>) {
  const app = Fastify()
  await app.register(authx, { secret })
  // readme:start
  await app.register(fastifyAuth)

  // Another strategy: a service's API key. Throwing lets @fastify/auth try the next one.
  async function apiKey (request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const key = request.headers['x-api-key']
    if (typeof key !== 'string' || !apiKeys.has(key)) throw new Error('No valid API key')
  }

  // Either a user's access token or a service's API key (the first that passes wins).
  app.get('/reports', {
    preHandler: app.auth([app.requireAccess, apiKey]),
    config: { authxGuard: app.requireAccess }   // OpenAPI: @fastify/auth hides the guard from the route
  }, async (request) => ({ by: request.tokenPayload?.sub ?? 'service' }))
  // readme:end
  return app
}
