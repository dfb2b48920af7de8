// Recipe: @fastify/websocket with the token in the query string, refused at the handshake.
import websocket from '@fastify/websocket'
import Fastify from 'fastify'
import authx from 'fastify-authx'

export async function build (secret: string) {
  const app = Fastify()
  await app.register(authx, { secret })
  // readme:start
  await app.register(websocket)

  // Browsers cannot set headers on a WebSocket: the token travels in ?token=. The guard runs at
  // onRequest, before the upgrade, so a bad or missing token is answered 401 and no socket opens.
  app.get('/live', {
    websocket: true,
    onRequest: app.authx.guard({ locations: ['query'] })
  }, (socket, request) => {
    const { sub } = request.tokenPayload
    socket.send(JSON.stringify({ hello: sub }))
    socket.on('message', message => socket.send(`${sub}: ${message.toString()}`))
  })
  // readme:end
  return app
}
