import Fastify from 'fastify'
import t from 'tap'
import authx from '../lib/index'
import { SECRET, bearer } from './helpers/app'

// request.getSubject() (README "Guarding routes", On success): once per request; null/undefined is 401; a throwing loader is a
// logged 500 whose text never reaches the client.

async function appWith (getSubject: (sub: string) => unknown, lines: string[] = []) {
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => { lines.push(line) } } } })
  await app.register(authx, { secret: SECRET, getSubject: getSubject as any })
  app.get('/me', { onRequest: app.requireAccess }, async req => ({ user: await req.getSubject() }))
  app.get('/feed', { onRequest: app.authx.guard({ optional: true }) }, async req => ({ user: await req.getSubject() }))
  return app
}

t.test('a found subject reaches the handler', async t => {
  const app = await appWith(async sub => ({ id: sub }))
  const res = await app.inject({ url: '/me', headers: bearer(app.createAccessToken('42')) })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { user: { id: '42' } })
  await app.close()
})

for (const [what, value] of [['null', null], ['undefined', undefined]] as const) {
  t.test(`a loader resolving ${what} answers 401 FST_AUTHX_SUBJECT_NOT_FOUND`, async t => {
    let ran = 0
    const app = await appWith(async () => { ran++; return value })
    const res = await app.inject({ url: '/me', headers: bearer(app.createAccessToken('deleted-user')) })
    t.equal(ran, 1)
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'FST_AUTHX_SUBJECT_NOT_FOUND')
    t.match(res.headers['www-authenticate'], /^Bearer error="invalid_token"/)
    t.notMatch(res.body, /deleted-user/, 'the subject is not echoed')
    await app.close()
  })
}

t.test('a synchronous loader returning null is refused too', async t => {
  const app = await appWith(() => null)
  const res = await app.inject({ url: '/me', headers: bearer(app.createAccessToken('a')) })
  t.equal(res.json().code, 'FST_AUTHX_SUBJECT_NOT_FOUND')
  await app.close()
})

for (const [what, loader] of [
  ['rejects', async (sub: string) => { throw new RangeError(`database down while loading ${sub} at db.internal:5432`) }],
  ['throws synchronously', (sub: string) => { throw new RangeError(`database down while loading ${sub} at db.internal:5432`) }]
] as const) {
  t.test(`a loader that ${what}: logged, answered 500 with a fixed message`, async t => {
    const lines: string[] = []
    const app = await appWith(loader, lines)
    const res = await app.inject({ url: '/me', headers: bearer(app.createAccessToken('user-77')) })
    t.equal(res.statusCode, 500)
    t.same(res.json(), { statusCode: 500, code: 'FST_AUTHX_SUBJECT_LOAD_FAILED', error: 'Internal Server Error', message: 'The subject of the token could not be loaded' })
    t.notMatch(res.body, /database|db\.internal|user-77/, 'nothing of the loader reaches the client')
    const logged = lines.map(l => JSON.parse(l)).find(l => l.msg === 'fastify-authx: getSubject failed')
    t.ok(logged, 'the failure is logged')
    t.equal(logged.loader.type, 'RangeError', 'with its class')
    t.match(logged.loader.message, /database down/, 'and its message')
    await app.close()
  })
}

t.test('an optional guard that found no token: getSubject is 401 FST_AUTHX_MISSING_TOKEN, the loader never runs', async t => {
  let ran = 0
  const app = await appWith(async sub => { ran++; return { id: sub } })
  const res = await app.inject({ url: '/feed' })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'FST_AUTHX_MISSING_TOKEN')
  t.equal(ran, 0)
  const ok = await app.inject({ url: '/feed', headers: bearer(app.createAccessToken('9')) })
  t.same(ok.json(), { user: { id: '9' } })
  await app.close()
})
