/**
 * Store failures in the logs: a class and a message, never the command. ioredis attaches the failed
 * command to its errors (`ReplyError.command.args`: keys with the subject, jti and family, the Lua
 * source, a session record with its user agent and IP); logging the error object would write them all.
 * A private redis-server on its own port is made read-only (a replica, as after a failover) and then
 * out of memory, and every write path is driven with canary values in subject, data and user agent.
 */
import t from 'tap'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import authx, { RedisStore } from '../../lib/index'
import { SECRET, bearer } from '../helpers/app'
import { redisOrSkip } from '../helpers/redis'
import { startRedis } from '../helpers/redis-servers'
import './helpers' // this attack class reports its case count too (its refusals are checked by its own assertions)

const SUBJECT = 'subject-canary-7f3a'
const DATA = 'data-canary-19bd'
const AGENT = 'agent-canary-52ce'

/** A redis-server of this test's own (stopped, its folder removed, when the test ends), and a client of it. */
async function privateRedis (t: tap.Test, extra: string[] = []): Promise<Redis> {
  const server = await startRedis(t, ['--save', '', '--appendonly', 'no', ...extra])
  const client = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: times => times > 50 ? null : 100 })
  client.on('error', () => {})
  await client.connect()
  await client.ping()
  t.teardown(() => client.disconnect())
  return client
}

t.test('a read-only or full Redis: 503s, and the logs hold the error class and message only', async t => {
  // the shared Redis is only asked whether Redis tests run here (skip loudly, or fail on CI)
  if (await redisOrSkip(t) === null) return
  const redis = await privateRedis(t)
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { lines.push(line) } } } })
  await app.register(authx, { secret: SECRET, store: new RedisStore({ client: redis }), rotation: true, storeTimeout: 2000 })
  app.post('/login', async request => await app.authx.createSession(SUBJECT, { request, data: { note: DATA } }))
  app.post('/refresh', { onRequest: app.requireRefresh }, async request => await app.authx.rotateRefreshToken(request.tokenPayload))
  app.post('/logout', { onRequest: app.requireAccess }, async request => { await app.authx.revokeToken(request.tokenPayload); return {} })
  app.post('/logout-all', { onRequest: app.requireAccess }, async request => { await app.authx.revokeAllSessions(request.tokenPayload.sub); return {} })
  app.post('/end', { onRequest: app.requireAccess }, async request => { await app.authx.revokeFamily(request.tokenPayload); return {} })
  await app.ready()
  t.teardown(() => app.close())

  const login = await app.inject({ method: 'POST', url: '/login', headers: { 'user-agent': AGENT } })
  t.equal(login.statusCode, 200, 'a working Redis: a session')
  const pair = login.json()
  const payload = app.authx.verifyToken(pair.refresh_token)
  const secrets = [SUBJECT, DATA, AGENT, payload.jti, payload.fam as string, pair.access_token, pair.refresh_token, 'redis.call', 'EVALSHA', 'evalsha', 'cjson', SECRET]

  for (const [state, expect] of [
    ['read-only', /READONLY/],
    ['out of memory', /OOM/]
  ] as const) {
    if (state === 'read-only') await redis.call('REPLICAOF', '127.0.0.1', '1') // a replica of nothing: reads answer, writes fail
    else {
      await redis.call('REPLICAOF', 'NO', 'ONE')
      await redis.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction')
      await redis.call('CONFIG', 'SET', 'maxmemory', '1')
    }
    const mark = lines.length
    const answers = [
      await app.inject({ method: 'POST', url: '/login', headers: { 'user-agent': AGENT } }),
      await app.inject({ method: 'POST', url: '/refresh', headers: bearer(pair.refresh_token) }),
      await app.inject({ method: 'POST', url: '/logout', headers: bearer(pair.access_token) }),
      await app.inject({ method: 'POST', url: '/logout-all', headers: bearer(pair.access_token) }),
      await app.inject({ method: 'POST', url: '/end', headers: bearer(pair.access_token) })
    ]
    t.strictSame(answers.map(a => a.statusCode), [503, 503, 503, 503, 503], `${state}: every write path fails closed`)
    t.ok(answers.every(a => a.json().code === 'FST_AUTHX_STORE_UNAVAILABLE'), `${state}: as FST_AUTHX_STORE_UNAVAILABLE`)
    const logged = lines.slice(mark)
    const causes = logged.map(l => JSON.parse(l)).filter(l => l.storeError !== undefined)
    t.equal(causes.length, 5, `${state}: one error line per failure`)
    t.ok(causes.every(l => l.level === 50 && l.storeError.type === 'ReplyError' && expect.test(l.storeError.message)), `${state}: each names the class and Redis's message`)
    t.ok(causes.every(l => l.err === undefined), `${state}: no error object (it would carry the command)`)
    const leaked = secrets.filter(s => logged.some(line => line.includes(s)))
    t.strictSame(leaked, [], `${state}: no subject, data, user agent, jti, family, token, key or script in any log line`)
    for (const a of answers) t.strictSame(secrets.filter(s => a.body.includes(s)), [], `${state}: nor in an answer`)
  }
})

t.test('a Redis without scripting (EVAL and EVALSHA renamed away, as some managed services do): nothing quoted reaches the log', async t => {
  if (await redisOrSkip(t) === null) return
  const redis = await privateRedis(t, ['--rename-command', 'EVALSHA', '', '--rename-command', 'EVAL', ''])
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { lines.push(line) } } } })
  await app.register(authx, { secret: SECRET, store: new RedisStore({ client: redis }), storeTimeout: 2000 })
  app.post('/login', async request => await app.authx.createSession(SUBJECT, { request, data: { note: DATA } }))
  await app.ready()
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/login', headers: { 'user-agent': AGENT } })
  t.equal(res.statusCode, 503)
  const causes = lines.map(l => JSON.parse(l)).filter(l => l.storeError !== undefined)
  t.equal(causes.length, 1)
  t.match(causes[0].storeError.message, /^ERR unknown command/, 'Redis\'s reason stays')
  t.notMatch(causes[0].storeError.message, /with args|evalsha|\{/i, 'the command, its name and its arguments do not')
  t.strictSame([SUBJECT, DATA, AGENT, 'redis.call', 'sessions'].filter(s => lines.some(l => l.includes(s))), [], 'no subject, data, user agent, key or script in any line')
})
