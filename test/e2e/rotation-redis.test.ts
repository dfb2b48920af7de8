import t from 'tap'
import { RedisStore } from '../../lib/index'
import { bearer } from '../helpers/app'
import { deleteKeys, redisOrSkip, uniquePrefix } from '../helpers/redis'

// examples/rotation-redis: login, rotation, reuse, logout, log out everywhere, sessions — over Redis.
const { build } = require('../../examples/rotation-redis/server.js')

t.test('the rotation example over Redis', async t => {
  const client = await redisOrSkip(t)
  if (client === null) return
  const prefix = uniquePrefix('authx-example')
  t.teardown(() => deleteKeys(client, prefix))
  const app = await build({ secret: 'example-secret-example-secret-123456', store: new RedisStore({ client, prefix }) })
  t.teardown(() => app.close())
  const login = async () => (await app.inject({ method: 'POST', url: '/login', payload: { username: 'test', password: 'test' }, headers: { 'user-agent': 'e2e' } })).json()

  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { username: 'test', password: 'x' } })).statusCode, 401)
  const first = await login()
  t.equal((await app.inject({ url: '/protected', headers: bearer(first.access_token) })).json().message, 'Hello test')
  let sessions = (await app.inject({ url: '/sessions', headers: bearer(first.access_token) })).json()
  t.equal(sessions.length, 1)
  t.equal(sessions[0].userAgent, 'e2e')

  const rotated = (await app.inject({ method: 'POST', url: '/refresh', headers: bearer(first.refresh_token) })).json()
  t.type(rotated.refresh_token, 'string')
  t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: bearer(first.refresh_token) })).statusCode, 200, 'within the 10 s grace window: a second pair')

  const second = await login()
  sessions = (await app.inject({ url: '/sessions', headers: bearer(second.access_token) })).json()
  t.equal(sessions.length, 2, 'two sessions')
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(rotated.access_token) })).statusCode, 200)
  t.equal((await app.inject({ url: '/protected', headers: bearer(rotated.access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'logout ends that session')
  t.equal((await app.inject({ url: '/protected', headers: bearer(second.access_token) })).statusCode, 200, 'the other session lives')
  t.equal((await app.inject({ url: '/sessions', headers: bearer(second.access_token) })).json().length, 1)

  t.equal((await app.inject({ method: 'POST', url: '/logout-all', headers: bearer(second.access_token) })).statusCode, 200)
  t.equal((await app.inject({ url: '/protected', headers: bearer(second.access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'log out everywhere')
  const third = await login()
  t.equal((await app.inject({ url: '/protected', headers: bearer(third.access_token) })).statusCode, 200, 'a new login works')
})

t.test('without REDIS_URL the example falls back to memory with a notice', async t => {
  const lines: string[] = []
  const log = console.log
  console.log = (line: string) => { lines.push(line) }
  const app = await build({ secret: 'example-secret-example-secret-123456', redisUrl: '' }).finally(() => { console.log = log })
  t.ok(lines.some(l => /REDIS_URL is not set: using the in-memory store/.test(l)))
  const pair = (await app.inject({ method: 'POST', url: '/login', payload: { username: 'test', password: 'test' } })).json()
  t.equal((await app.inject({ url: '/protected', headers: bearer(pair.access_token) })).statusCode, 200)
  await app.close()
})
