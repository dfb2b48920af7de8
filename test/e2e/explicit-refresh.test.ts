import { spawn } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { freePort } from '../helpers/http'

// Replays the "Explicit refresh" walk-through against the example, started as a real process.
const root = join(__dirname, '..', '..')

t.test('explicit refresh walk-through over HTTP', async t => {
  const port = await freePort()
  const child = spawn(process.execPath, ['examples/explicit-refresh/server.js'], {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', JWT_SECRET_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', d => { output += String(d) })
  child.stderr.on('data', d => { output += String(d) })
  t.teardown(() => { child.kill() })
  const base = `http://127.0.0.1:${port}`
  for (let i = 0; i < 100 && !output.includes('Server listening'); i++) await new Promise(resolve => setTimeout(resolve, 100))
  t.match(output, /Server listening at http:\/\/127\.0\.0\.1:\d+/, 'the example started')
  t.match(output, /JWT_SECRET_KEY is not set: using a random secret/, 'a one-line notice about the random secret')

  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const res = await fetch(base + path, {
      method,
      headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    return { status: res.status, headers: res.headers, body: await res.json() as any }
  }

  let res = await call('POST', '/login', undefined, { username: 'test', password: 'wrong' })
  t.equal(res.status, 401)
  t.equal(res.body.message, 'Bad username/password')

  res = await call('POST', '/login', undefined, { username: 'test', password: 'test' })
  t.equal(res.status, 200)
  const { access_token: access, refresh_token: refresh } = res.body
  t.type(access, 'string')
  t.type(refresh, 'string')

  res = await call('GET', '/protected', access)
  t.equal(res.status, 200)
  t.equal(res.body.message, 'You have access to this protected resource')

  res = await call('GET', '/sensitive_operation', access)
  t.equal(res.status, 200)
  t.equal(res.body.message, 'You have access to this sensitive operation')

  for (const method of ['GET', 'POST']) {
    res = await call(method, '/refresh', refresh)
    t.equal(res.status, 200, `${method} /refresh`)
    const fresh = res.body.access_token
    t.type(fresh, 'string')
    t.equal((await call('GET', '/protected', fresh)).status, 200, `the access token from ${method} /refresh works`)
    const sensitive = await call('GET', '/sensitive_operation', fresh)
    t.equal(sensitive.status, 401, 'a refreshed token is not fresh')
    t.equal(sensitive.body.code, 'FST_AUTHX_FRESH_TOKEN_REQUIRED')
  }

  res = await call('GET', '/protected', refresh)
  t.equal(res.status, 401)
  t.equal(res.body.code, 'FST_AUTHX_ACCESS_TOKEN_REQUIRED', 'the refresh token is refused on /protected')

  res = await call('POST', '/refresh', access)
  t.equal(res.status, 401)
  t.equal(res.body.code, 'FST_AUTHX_REFRESH_TOKEN_REQUIRED', 'the access token is refused on /refresh')

  res = await call('GET', '/protected')
  t.equal(res.status, 401)
  t.equal(res.body.code, 'FST_AUTHX_MISSING_TOKEN')
  t.equal(res.headers.get('www-authenticate'), 'Bearer')
})
