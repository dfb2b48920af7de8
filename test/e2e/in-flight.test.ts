/**
 * Revocation against requests in flight, over real TCP on 127.0.0.1 (inject() cannot hold a request
 * between its head and its body). Once revokeAllSessions, revokeFamily or revokeToken resolves, nothing
 * minted from what it covers is accepted, on any instance: the guard ran before the revocation, so the
 * mint itself must re-check (README "Revocation, rotation, sessions").
 * Each case runs with the MemoryStore (one instance) and with two instances sharing one Redis.
 */
import type { AddressInfo } from 'node:net'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import authx, { MemoryStore, RedisStore, type AuthxOptions, type TokenRef, type TokenStore } from '../../lib/index'
import { SECRET, bearer } from '../helpers/app'
import { holdRequest, setCookies, watchArrivals, type RawResponse } from '../helpers/http'
import { deleteKeys, redisOrSkip, uniquePrefix } from '../helpers/redis'

const REVOKED = 'FST_AUTHX_REVOKED_TOKEN'

interface Server {
  app: FastifyInstance
  port: number
  /** resolves once the request with this `x-hold` id has passed its guard and waits for its body */
  arrived: (id: string) => Promise<void>
}

async function server (options: AuthxOptions): Promise<Server> {
  const app = Fastify()
  await app.register(authx, { secret: SECRET, rotation: { reuseGraceSeconds: 0 }, storeTimeout: 2000, ...options })
  const arrived = watchArrivals(app)
  app.post('/refresh', { onRequest: app.requireRefresh }, async request => await app.authx.rotateRefreshToken(request.tokenPayload))
  app.get('/protected', { onRequest: app.requireAccess }, async request => ({ sub: request.tokenPayload.sub }))
  app.post('/page', { onRequest: app.requireAccess }, async () => ({ page: true }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, port: (app.server.address() as AddressInfo).port, arrived }
}

/** A JSON request over a real connection (undici). */
async function call (s: Server, method: string, path: string, headers: Record<string, string>): Promise<{ status: number, body: any, cookies: string[] }> {
  const res = await fetch(`http://127.0.0.1:${s.port}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: method === 'GET' ? undefined : '{}' })
  return { status: res.status, body: await res.json(), cookies: res.headers.getSetCookie() }
}

const cookie = (s: Server, token: string) => ({ cookie: `access_token_cookie=${token}`, 'x-csrf-token': s.app.authx.getCsrfToken(token) as string })

/** The ways to revoke what a login's pair covers, run on `on` (the other instance where there are two). */
const REVOCATIONS: Array<[string, (on: FastifyInstance, sub: string, token: string) => Promise<unknown>]> = [
  ['revokeAllSessions', async (on, sub) => await on.authx.revokeAllSessions(sub)],
  ['revokeToken', async (on, _sub, token) => await on.authx.revokeToken(token)],
  ['revokeFamily by id', async (on, _sub, token) => await on.authx.revokeFamily(on.authx.verifyToken(token).fam as string)],
  ['revokeFamily by payload', async (on, _sub, token) => await on.authx.revokeFamily(on.authx.verifyToken(token))]
]

/** The instance a request goes to, and the one the revocation runs on (the same one with a MemoryStore). */
type Pair = [a: Server, b: Server]

/** A pair per case: plain rotation, a store with a gate on redeem, and cookies with implicit refresh. */
interface Setups { name: string, plain: Pair, gated: Pair, cookies: Pair }

const COOKIES: AuthxOptions = { tokenLocation: ['headers', 'cookies'], implicitRefresh: true, accessTokenExpires: 60 }

function deferred (): { promise: Promise<void>, resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>(r => { resolve = r })
  return { promise, resolve }
}

/**
 * A store whose next redeem, once armed, runs in the store at once but answers only on `open()`: the
 * window between a mint's atomic check and the mint itself. Unarmed, it is the store it extends.
 */
function gate<T extends new (...args: any[]) => TokenStore> (Base: T) {
  return class Gated extends Base {
    landed = deferred()
    release = deferred()
    armed = false

    arm (): void {
      this.landed = deferred()
      this.release = deferred()
      this.armed = true
    }

    open (): void {
      this.release.resolve()
    }

    async redeem (ref: TokenRef, atMs: number, ttl: number, familyTtl: number): Promise<any> {
      const status = await super.redeem(ref, atMs, ttl, familyTtl)
      if (this.armed) {
        this.armed = false
        this.landed.resolve()
        await this.release.promise
      }
      return status
    }
  }
}

function suites (t: tap.Test, { name, plain, gated, cookies }: Setups): void {
  {
    t.test(`${name}: a refresh held between its head and its body, then revoked on the other instance: 401, no pair`, async t => {
      const [a, b] = plain
      for (const [how, revoke] of REVOCATIONS) {
        const sub = `held-${how}`
        const pair = a.app.createTokenPair(sub)
        const id = `${name}-${how}`
        const held = holdRequest(a.port, 'POST', '/refresh', { ...bearer(pair.refresh_token), 'x-hold': id })
        await a.arrived(id) // the guard has accepted the refresh token
        await revoke(b.app, sub, pair.refresh_token)
        const res: RawResponse = await held.release()
        t.equal(res.status, 401, `${how}: the in-flight rotation is refused`)
        t.equal(JSON.parse(res.body).code, REVOKED, `${how}: as revoked`)
        t.notMatch(res.body, /access_token|refresh_token/, `${how}: no pair in the answer`)
      }
    })

    t.test(`${name}: a cookie request held across a logout gets no new access cookie (implicit refresh)`, async t => {
      const [a, b] = cookies
      for (const [how, revoke] of REVOCATIONS) {
        const sub = `cookie-${how}`
        const pair = a.app.createTokenPair(sub)
        const id = `${name}-cookie-${how}`
        const held = holdRequest(a.port, 'POST', '/page', { ...cookie(a, pair.access_token), 'x-hold': id })
        await a.arrived(id)
        await revoke(b.app, sub, pair.access_token)
        const res = await held.release()
        t.equal(res.status, 200, `${how}: the request was accepted before the logout; it is answered`)
        t.notOk(setCookies(res).access_token_cookie, `${how}: but no access cookie is minted from the revoked token`)
        t.equal((await call(b, 'GET', '/protected', cookie(b, pair.access_token))).body.code, REVOKED, `${how}: and the token itself is refused`)
      }
    })

    t.test(`${name}: revoked between the mint's check and the mint: what was minted is refused everywhere`, async t => {
      const [a, b] = gated
      const store = (a.app.authx.store as unknown as InstanceType<ReturnType<typeof gate>>)
      for (const [how, revoke] of REVOCATIONS) {
        const sub = `window-${how}`
        const pair = await a.app.authx.createSession(sub)
        store.arm()
        const rotation = call(a, 'POST', '/refresh', bearer(pair.refresh_token))
        await store.landed.promise // the refresh token is redeemed: checked and marked, the pair not minted yet
        await revoke(b.app, sub, pair.refresh_token)
        store.open()
        const minted = await rotation
        t.equal(minted.status, 200, `${how}: the rotation had passed its check, so it answers a pair`)
        for (const s of [a, b]) {
          t.equal((await call(s, 'GET', '/protected', bearer(minted.body.access_token))).body.code, REVOKED, `${how}: its access token is refused`)
          const again = await call(s, 'POST', '/refresh', bearer(minted.body.refresh_token))
          t.equal(again.status, 401, `${how}: its refresh token is refused`)
        }
      }
    })

    t.test(`${name}: refreshes chained on one instance while the victim logs out on the other: zero bypasses in 60 races`, async t => {
      const [a, b] = plain
      let bypasses = 0
      for (let trial = 0; trial < 60; trial++) {
        const sub = `race-${trial}`
        let current = a.app.createTokenPair(sub)
        let rotations = 0
        let logoutAfter: () => void = () => {}
        const logoutTime = new Promise<void>(resolve => { logoutAfter = resolve })
        const chain = (async () => {
          for (let k = 0; k < 6; k++) {
            const next = call(a, 'POST', '/refresh', bearer(current.refresh_token))
            if (k === trial % 4) logoutAfter() // the logout starts while this refresh is on the wire
            const res = await next
            if (res.status !== 200) break
            current = res.body
            rotations++
          }
          logoutAfter()
        })()
        await logoutTime
        // sweep the logout across the refresh's path through the server (guard, body, redeem, mint): a
        // different number of event-loop turns each trial, a count rather than a sleep
        for (let turn = 0; turn < trial % 15; turn++) await new Promise(resolve => setImmediate(resolve))
        await b.app.authx.revokeAllSessions(sub)
        await chain
        for (const s of [a, b]) {
          if ((await call(s, 'GET', '/protected', bearer(current.access_token))).status !== 401) bypasses++
          if ((await call(s, 'POST', '/refresh', bearer(current.refresh_token))).status !== 401) bypasses++
        }
        t.ok(rotations <= 6)
        t.equal((await call(a, 'GET', '/protected', bearer(b.app.createAccessToken(sub)))).status, 200, `trial ${trial}: a login after the logout works`)
      }
      t.equal(bypasses, 0, 'no token minted from a revoked one was accepted afterwards')
    })
  }
}

t.test('MemoryStore, one instance', async t => {
  const servers = [await server({}), await server({ store: new (gate(MemoryStore))() }), await server(COOKIES)]
  t.teardown(async () => { await Promise.all(servers.map(async s => await s.app.close())) })
  const [plain, gated, cookies] = servers
  suites(t, { name: 'memory', plain: [plain, plain], gated: [gated, gated], cookies: [cookies, cookies] })
})

t.test('two instances, one Redis', async t => {
  const client = await redisOrSkip(t)
  if (client === null) return
  const prefix = uniquePrefix('authx-in-flight')
  // each instance has its own connection, as separate processes would
  const clients: Redis[] = []
  const own = (): Redis => { const c = client.duplicate(); clients.push(c); return c }
  const Gated = gate(RedisStore)
  const pair = async (extra: AuthxOptions, gated = false): Promise<Pair> => [
    await server({ ...extra, store: gated ? new Gated({ client: own(), prefix }) : new RedisStore({ client: own(), prefix }) }),
    await server({ ...extra, store: new RedisStore({ client: own(), prefix }) })
  ]
  const setups: Setups = { name: 'redis', plain: await pair({}), gated: await pair({}, true), cookies: await pair(COOKIES) }
  t.teardown(async () => {
    await Promise.all([...setups.plain, ...setups.gated, ...setups.cookies].map(async s => await s.app.close()))
    await Promise.all(clients.map(async c => await c.quit()))
    await deleteKeys(client, prefix)
  })
  suites(t, setups)
})
