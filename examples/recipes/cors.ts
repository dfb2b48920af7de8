// Recipe: @fastify/cors with preflight, for a single-page app on another origin.
import cors from '@fastify/cors'
import Fastify from 'fastify'
import authx from 'fastify-authx'

export async function build (secret: string) {
  const app = Fastify()
  await app.register(authx, { secret })
  // readme:start
  // @fastify/cors answers preflight (OPTIONS) itself in its onRequest hook, before any guard runs,
  // and adds its headers to every answer, 401s included, so the page can read the error.
  await app.register(cors, {
    origin: ['https://app.example.com'],
    allowedHeaders: ['Authorization', 'Content-Type'],
    exposedHeaders: ['WWW-Authenticate'],
    maxAge: 600
  })

  app.get('/api/orders', { onRequest: app.requireAccess }, async (request) => ({ orders: [], for: request.tokenPayload.sub }))
  app.post('/api/orders', { onRequest: app.requireAccess }, async () => ({ created: true }))
  // readme:end
  return app
}
