import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import t from 'tap'
import authx, { MemoryStore, type AuthxOptions, type TokenRef, type TokenStatus } from '../lib/index'
import { SECRET, bearer, build, payloadOf, registerError } from './helpers/app'
import { ProbeStore, STORE_METHODS, remoteStore, storeWith } from './helpers/stores'
import { ALL_CLEAR } from '../lib/stores/types'

// lib/store-calls.ts: every store call the plugin makes, and the store's optional synchronous read
// `statusNow` (lib/stores/types.ts; README "Architecture", "A new store"): which method a guard calls,
// what a failing or malformed answer gives (503, fail closed), what is logged, and the `store` check.

const CLEAR = ALL_CLEAR

interface Logged { app: FastifyInstance, lines: () => Array<Record<string, any>> }

/**
 * An app on `store`, its error log lines, and two guarded routes: /access, and /sync, whose guard is
 * called with a callback and tells (`x-sync`) whether it answered before returning, i.e. without a promise.
 */
async function appOn (store: unknown, options: Partial<AuthxOptions> = {}): Promise<Logged> {
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => { logs.push(line) } } } })
  await app.register(authx, { secret: SECRET, store, storeTimeout: 50, ...options } as AuthxOptions)
  app.get('/access', { onRequest: app.requireAccess }, async request => ({ sub: request.tokenPayload.sub }))
  app.get('/sync', {
    onRequest: (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
      let returned = false
      app.requireAccess(request, reply, err => {
        if (err === undefined) reply.header('x-sync', String(!returned))
        done(err)
      })
      returned = true
    }
  }, async () => 'ok')
  await app.ready()
  return { app, lines: () => logs.map(line => JSON.parse(line)) }
}

t.test('the default store and a ProbeStore: a guarded request reads statusNow once, synchronously, and never status', async t => {
  // The default store is made inside register: its calls are counted on the prototype, for this test only.
  const { status, statusNow } = MemoryStore.prototype
  const counts = { status: 0, statusNow: 0 }
  MemoryStore.prototype.status = function (ref: TokenRef) { counts.status++; return status.call(this, ref) }
  MemoryStore.prototype.statusNow = function (ref: TokenRef) { counts.statusNow++; return statusNow.call(this, ref) }
  t.teardown(() => { Object.assign(MemoryStore.prototype, { status, statusNow }) })
  const byDefault = await appOn(undefined)
  const token = byDefault.app.createAccessToken('alice')
  const res = await byDefault.app.inject({ url: '/sync', headers: bearer(token) })
  t.equal(res.statusCode, 200, 'default store: accepted')
  t.equal(res.headers['x-sync'], 'true', 'default store: answered without a promise')
  t.same(counts, { status: 0, statusNow: 1 }, 'default store: statusNow once, status never')
  await byDefault.app.close()
  Object.assign(MemoryStore.prototype, { status, statusNow })

  const probe = new ProbeStore()
  const probed = await appOn(probe)
  const res2 = await probed.app.inject({ url: '/sync', headers: bearer(probed.app.createAccessToken('alice')) })
  t.equal(res2.statusCode, 200, 'ProbeStore: accepted')
  t.equal(res2.headers['x-sync'], 'true', 'ProbeStore: answered without a promise')
  t.same(probe.calls, ['statusNow'], 'ProbeStore: statusNow once, status never')
  await probed.app.close()
})

t.test('a MemoryStore subclass that overrides status alone is asked through its status', async t => {
  class Revoking extends MemoryStore {
    asked = 0
    override async status (): Promise<TokenStatus> { this.asked++; return { ...CLEAR, revoked: true } }
  }
  class Counting extends MemoryStore {
    asked = 0
    override async status (ref: TokenRef): Promise<TokenStatus> { this.asked++; return await super.status(ref) }
  }
  const revoking = new Revoking()
  const { app } = await appOn(revoking)
  const res = await app.inject({ url: '/access', headers: bearer(app.createAccessToken('alice')) })
  t.equal(res.statusCode, 401, 'its override says revoked: refused')
  t.equal(res.json().code, 'FST_AUTHX_REVOKED_TOKEN')
  t.equal(revoking.asked, 1, 'its status was asked once')
  await app.close()

  const counting = new Counting()
  const other = await appOn(counting)
  const ok = await other.app.inject({ url: '/sync', headers: bearer(other.app.createAccessToken('alice')) })
  t.equal(ok.statusCode, 200, 'an override that answers all clear: accepted')
  t.equal(ok.headers['x-sync'], 'false', 'through a promise')
  t.equal(counting.asked, 1, 'its status was asked once')
  await other.app.close()
})

t.test('a MemoryStore subclass that overrides statusNow: its override is used, synchronously', async t => {
  class Sync extends MemoryStore {
    readonly calls: string[] = []
    revoked = false
    override statusNow (ref: TokenRef): TokenStatus { this.calls.push('statusNow'); return this.revoked ? { ...CLEAR, revoked: true } : super.statusNow(ref) }
    override async status (ref: TokenRef): Promise<TokenStatus> { this.calls.push('status'); return await super.status(ref) }
  }
  const store = new Sync()
  const { app } = await appOn(store)
  const token = app.createAccessToken('alice')
  const res = await app.inject({ url: '/sync', headers: bearer(token) })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-sync'], 'true', 'answered without a promise')
  t.same(store.calls, ['statusNow'], 'its statusNow, never its status')
  store.revoked = true
  const refused = await app.inject({ url: '/access', headers: bearer(token) })
  t.equal(refused.json().code, 'FST_AUTHX_REVOKED_TOKEN', 'what its statusNow answers decides')
  t.same(store.calls, ['statusNow', 'statusNow'])
  await app.close()
})

t.test('a plain object store (no MemoryStore) with statusNow: its statusNow is used, and sees its own writes', async t => {
  const inner = new MemoryStore()
  const calls: string[] = []
  const store: Record<string, unknown> = {}
  for (const name of STORE_METHODS) {
    store[name] = (...args: unknown[]) => { calls.push(name); return (inner[name] as (...a: unknown[]) => unknown).apply(inner, args) }
  }
  t.notOk(store instanceof MemoryStore)
  const { app } = await appOn(store)
  const token = app.createAccessToken('alice')
  const res = await app.inject({ url: '/sync', headers: bearer(token) })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-sync'], 'true', 'answered without a promise')
  t.same(calls, ['statusNow'], 'statusNow once, status never')
  await app.authx.revokeToken(token)
  calls.length = 0
  t.equal((await app.inject({ url: '/access', headers: bearer(token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'a revocation is seen at once')
  t.same(calls, ['statusNow'])
  await app.close()
})

t.test('statusNow that throws: 503, one error line with the error\'s class and its message without the quoted parts', async t => {
  const thrown = 'connection to \'redis://:hunter2@10.0.0.7:6379\' lost while reading "authx:{alice}:jti" `EVALSHA`'
  const store = new ProbeStore()
  store.statusNow = () => { throw new RangeError(thrown) }
  const { app, lines } = await appOn(store)
  const res = await app.inject({ url: '/access', headers: bearer(app.createAccessToken('alice')) })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { statusCode: 503, code: 'FST_AUTHX_STORE_UNAVAILABLE', error: 'Service Unavailable', message: 'Token checks are unavailable; try again later' })
  const errors = lines().filter(line => line.level >= 50)
  const mine = errors.filter(line => line.storeError !== undefined)
  t.equal(mine.length, 1, 'one error line of the plugin\'s')
  t.equal(mine[0]?.msg, 'fastify-authx: token store unavailable; failing closed')
  t.same(mine[0]?.storeError, { type: 'RangeError', message: 'connection to … lost while reading … …' }, 'the class, and the message with every quoted part cut')
  // Fastify logs every 5xx answer too: that line carries the plugin's error, not the store's.
  t.same(errors.filter(line => line.storeError === undefined).map(line => line.err?.code), ['FST_AUTHX_STORE_UNAVAILABLE'], 'and Fastify\'s line of the 503')
  t.notMatch(JSON.stringify(errors), /hunter2|10\.0\.0\.7|authx:\{alice\}|EVALSHA|RangeError: /, 'nothing quoted reaches any log line')
  await app.close()
})

t.test('statusNow answering garbage or a promise: 503, and no unhandled rejection', async t => {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  const answers: Array<[string, () => unknown]> = [
    ['null', () => null],
    ['undefined', () => undefined],
    ['an empty object', () => ({})],
    ['NaN fields', () => ({ ...CLEAR, revokedBefore: NaN, consumedAt: NaN })],
    ['a string for a boolean', () => ({ ...CLEAR, revoked: 'false' })],
    ['a resolved promise of all clear', () => Promise.resolve(CLEAR)],
    ['a rejected promise', () => Promise.reject(new Error('store-driver-canary'))],
    ['a thenable', () => ({ then () {} })]
  ]
  for (const [what, answer] of answers) {
    const store = new ProbeStore()
    store.statusNow = answer as ProbeStore['statusNow']
    const { app, lines } = await appOn(store)
    const res = await app.inject({ url: '/access', headers: bearer(app.createAccessToken('alice')) })
    t.equal(res.statusCode, 503, `${what}: 503`)
    t.equal(res.json().code, 'FST_AUTHX_STORE_UNAVAILABLE', `${what}: store unavailable`)
    t.equal(lines().filter(line => line.storeError !== undefined).length, 1, `${what}: logged once as a store failure`)
    t.notOk(store.calls.includes('status'), `${what}: status is not asked instead`)
    await app.close()
  }
  // a rejection nobody handles is reported once the microtask queue and the next macrotask have run
  await new Promise(resolve => setImmediate(resolve))
  await new Promise(resolve => setImmediate(resolve))
  t.same(unhandled, [], 'no unhandled rejection')
})

t.test('store: statusNow must be a function when given', async t => {
  const inner = new MemoryStore()
  const methods: Record<string, unknown> = {}
  for (const name of STORE_METHODS) if (name !== 'statusNow') methods[name] = (inner[name] as (...a: unknown[]) => unknown).bind(inner)
  t.equal(await registerError({ secret: SECRET, store: methods }), undefined, 'every method but statusNow: a store')
  t.equal(await registerError({ secret: SECRET, store: { ...methods, statusNow: undefined } }), undefined, 'statusNow undefined: a store without one')
  for (const bad of ['x', 42, {}, null, true]) {
    const err = await registerError({ secret: SECRET, store: { ...methods, statusNow: bad } })
    t.equal(err?.code, 'FST_AUTHX_BAD_OPTIONS', `statusNow ${JSON.stringify(bad)}: refused`)
    t.match(err?.message, /bad option store\b/, `statusNow ${JSON.stringify(bad)}: the message names store`)
  }
})

t.test('createTokenPair, then at once revokeFamily(id): the family record is there', async t => {
  // An in-process store (it has statusNow) writes the record before createTokenPair returns.
  const probe = new ProbeStore()
  const local = await appOn(probe)
  const pair = local.app.createTokenPair('alice')
  const fam = payloadOf(pair.access_token).fam as string
  t.same(probe.calls, ['recordFamily'], 'the record was written by createTokenPair itself')
  t.equal(await probe.familySubject(fam), 'alice', 'and is there before anything was awaited')
  t.equal(await local.app.authx.revokeFamily(fam), true, 'in-process store: revokeFamily(id) finds it')
  t.equal((await local.app.inject({ url: '/access', headers: bearer(pair.access_token) })).json().code, 'FST_AUTHX_REVOKED_TOKEN')
  await local.app.close()

  // A remote store: the record is still in flight (its write waits 20 ms, every other call none), so a
  // familySubject asked at once would find nothing; the plugin waits for its own record first.
  const remote = remoteStore(method => method === 'recordFamily' ? 20 : 0)
  const far = await appOn(remote, { storeTimeout: 1000 })
  const pair2 = far.app.createTokenPair('bob')
  const fam2 = payloadOf(pair2.access_token).fam as string
  t.equal(await far.app.authx.revokeFamily(fam2), true, 'remote store: revokeFamily(id) waits for the record in flight')
  t.same(remote.calls, ['recordFamily', 'familySubject', 'revokeFamily'], 'asked for the owner once the record was written')
  const res = await far.app.inject({ url: '/access', headers: bearer(pair2.access_token) })
  t.equal(res.json().code, 'FST_AUTHX_REVOKED_TOKEN', 'the family is revoked')
  await far.app.close()
})

t.test('a store without statusNow is asked through status', async t => {
  const remote = remoteStore()
  const { app } = await appOn(remote)
  const res = await app.inject({ url: '/sync', headers: bearer(app.createAccessToken('alice')) })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-sync'], 'false', 'through a promise')
  t.same(remote.calls, ['status'], 'status once')
  await app.close()
})

t.test('fail closed: a store that throws, and one that never answers', async t => {
  for (const mode of [{ fail: true }, { hang: true }]) {
    // A failing in-process store throws from its synchronous read; a hanging one can only be a remote store.
    const probe = mode.hang === true ? remoteStore() : new ProbeStore()
    const logs: string[] = []
    const app = Fastify({ logger: { level: 'error', stream: { write: (l: string) => { logs.push(l) } } } })
    await app.register(authx, { secret: SECRET, store: probe, storeTimeout: 50, rotation: true } as AuthxOptions)
    let ran = 0
    app.get('/p', { onRequest: app.requireAccess }, async () => { ran++; return 'ok' })
    app.post('/rotate', { onRequest: app.requireRefresh }, async req => await app.authx.rotateRefreshToken(req.tokenPayload))
    const token = app.createAccessToken('alice')
    t.equal((await app.inject({ url: '/p', headers: bearer(token) })).statusCode, 200, 'healthy first')
    Object.assign(probe.mode, mode)
    const started = Date.now()
    const res = await app.inject({ url: '/p', headers: bearer(token) })
    t.equal(res.statusCode, 503, `${JSON.stringify(mode)}: 503`)
    t.same(res.json(), { statusCode: 503, code: 'FST_AUTHX_STORE_UNAVAILABLE', error: 'Service Unavailable', message: 'Token checks are unavailable; try again later' })
    t.notMatch(res.body, /READONLY|hunter2|replica/, 'no driver text')
    t.equal(ran, 1, 'the handler did not run')
    t.ok(Date.now() - started < 2000, 'bounded by storeTimeout')
    t.ok(logs.some(l => /token store unavailable/.test(l)), 'logged with its cause')
    const rot = await app.inject({ method: 'POST', url: '/rotate', headers: bearer(app.createRefreshToken('alice')) })
    t.equal(rot.statusCode, 503, 'rotation fails closed too')
    await t.rejects(app.authx.revokeToken(token), { code: 'FST_AUTHX_STORE_UNAVAILABLE' }, 'revokeToken rejects')
    await t.rejects(app.authx.listSessions('alice'), { code: 'FST_AUTHX_STORE_UNAVAILABLE' }, 'listSessions rejects')
    await app.close()
  }
})

t.test('storeTimeout bounds any thenable, not only native promises', async t => {
  const never = { then () {} }
  const app = await build({ secret: SECRET, store: storeWith('Thenable', ['status'], () => never), storeTimeout: 50 })
  t.equal((await app.inject({ url: '/access', headers: bearer(app.createAccessToken('a')) })).statusCode, 503, 'a store answering a thenable that never settles')
  await app.close()
  const slow = await build({ secret: SECRET, isRevoked: () => never as any, storeTimeout: 50 })
  t.equal((await slow.inject({ url: '/access', headers: bearer(slow.createAccessToken('a')) })).statusCode, 503, 'isRevoked answering one')
  await slow.close()
})

t.test('a MemoryStore subclass that sets its own status in its constructor is asked through it too', async t => {
  // README "Several instances with Redis": "A MemoryStore subclass that overrides status alone has no
  // statusNow, so its override is always asked." An override assigned in the constructor (or as a class
  // field, or by wrapping an instance's status) is an override of status alone all the same.
  class Wrapping extends MemoryStore {
    asked = 0
    constructor () {
      super()
      const inherited = this.status.bind(this)
      this.status = async (ref: TokenRef) => { this.asked++; return { ...(await inherited(ref)), revoked: true } }
    }
  }
  const store = new Wrapping()
  const { app } = await appOn(store)
  const res = await app.inject({ url: '/access', headers: bearer(app.createAccessToken('alice')) })
  t.equal(res.statusCode, 401, 'its override says revoked: refused')
  t.equal(res.json().code, 'FST_AUTHX_REVOKED_TOKEN', 'as revoked')
  t.equal(store.asked, 1, 'its status was asked once')
  await app.close()
})

// Findings of the adversarial review of the refactor, each pinned.

/** A MemoryStore whose synchronous read answers `read()`. */
function syncStore (read: () => unknown): MemoryStore {
  return new (class extends MemoryStore { override statusNow (): any { return read() } })()
}

t.test('a status replaced as a class field, or by a Proxy, is asked too: never the inherited statusNow', async t => {
  class Field extends MemoryStore {
    asked = 0
    override status = async (): Promise<TokenStatus> => { this.asked++; return { ...CLEAR, revoked: true } }
  }
  const field = new Field()
  const inner = new MemoryStore()
  let proxied = 0
  const proxy = new Proxy(inner, {
    get (target, name) {
      if (name === 'status') return async () => { proxied++; return { ...CLEAR, revoked: true } }
      const value = Reflect.get(target, name, target)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  for (const [label, store, asked] of [['class field', field, () => field.asked], ['Proxy', proxy, () => proxied]] as const) {
    const { app } = await appOn(store)
    const res = await app.inject({ url: '/access', headers: bearer(app.createAccessToken('alice')) })
    t.equal(res.statusCode, 401, `${label}: its status says revoked: refused`)
    t.equal(res.json().code, 'FST_AUTHX_REVOKED_TOKEN', label)
    t.equal(asked(), 1, `${label}: its status was asked`)
    await app.close()
  }
})

t.test('hostile answers fail closed with 503, never 500, and are read once', async t => {
  const thenGetterThrows = { get then (): never { throw new Error('then getter') } }
  const fieldThrows = { revoked: false, familyRevoked: false, revokedBefore: 0, get consumedAt (): never { throw new Error('getter') } }
  const minimalThenable = { then (resolve: (v: unknown) => void) { resolve(CLEAR) } }
  for (const [label, answer] of [['a then getter that throws', thenGetterThrows], ['a field getter that throws', fieldThrows], ['a minimal thenable', minimalThenable]] as const) {
    const store = syncStore(() => answer)
    const { app } = await appOn(store)
    const res = await app.inject({ url: '/access', headers: bearer(app.createAccessToken('alice')) })
    t.equal(res.statusCode, 503, `statusNow: ${label}: 503`)
    t.equal(res.json().code, 'FST_AUTHX_STORE_UNAVAILABLE', label)
    await app.close()
  }
  // an answer that says revoked on its first read and not on the next: one read decides
  let reads = 0
  const fickle = { get revoked () { return reads++ === 0 }, familyRevoked: false, revokedBefore: 0, consumedAt: 0 }
  const { app } = await appOn(syncStore(() => fickle))
  t.equal((await app.inject({ url: '/access', headers: bearer(app.createAccessToken('alice')) })).json().code, 'FST_AUTHX_REVOKED_TOKEN', 'a fickle answer: its one read says revoked')
  t.equal(reads, 1, 'read once')
  await app.close()
})

t.test('a store error that cannot be described is logged as nothing, and never crashes anything', async t => {
  const undescribable = (): Error => {
    const err = new Error('x')
    Object.defineProperty(err, 'message', { get () { throw new Error('message getter') } })
    return err
  }
  // the guard's read
  const { app, lines } = await appOn(syncStore(() => { throw undescribable() }))
  const res = await app.inject({ url: '/access', headers: bearer(app.createAccessToken('alice')) })
  t.equal(res.statusCode, 503, 'a 503')
  t.same(lines().filter(l => l.storeError !== undefined).map(l => l.storeError), [{ type: 'Error', message: '' }], 'one line, nothing of the error')
  await app.close()
  // an in-process store's background family write (createTokenPair is synchronous)
  class FailingWrites extends MemoryStore {
    override async recordFamily (): Promise<void> { throw undescribable() }
  }
  const second = await appOn(new FailingWrites())
  const crashed: unknown[] = []
  const onCrash = (err: unknown) => { crashed.push(err) }
  process.on('unhandledRejection', onCrash)
  t.teardown(() => { process.off('unhandledRejection', onCrash) })
  t.ok(second.app.createTokenPair('alice').access_token, 'a pair')
  await new Promise(resolve => setImmediate(resolve))
  t.same(crashed, [], 'no unhandled rejection')
  t.same(second.lines().filter(l => l.storeError !== undefined).map(l => l.storeError), [{ type: 'Error', message: '' }], 'the failure is logged as nothing')
  await second.app.close()
})

t.test('what the log keeps of a store error: no quoted, bracketed or second-line value', async t => {
  const cases: Array<[string, string, string?]> = [
    ["ERR can't read 'alice@example.com' now", "ERR can't read … now"],
    ['ERR bad {"a":{"b":"secret"}} here', 'ERR bad … here'],
    ['ERR list [1,[2,"secret"]] end', 'ERR list … end'],
    ['ERR open {"secret": 1', 'ERR open …'],
    ['ERR typographic \u201csecret\u201d and \u2018secret\u2019', 'ERR typographic … and …'],
    ['ERR first line\rsecret second line', 'ERR first line'],
    ['ERR first line\u2028secret', 'ERR first line'],
    ['ERR unknown command \'evalsha\', with args beginning with: \'secret\'', 'ERR unknown command …'],
    ['READONLY You can\'t write against a read only replica.', 'READONLY You can\'t write against a read only replica.']
  ]
  for (const [message, kept] of cases) {
    const { app, lines } = await appOn(syncStore(() => { throw new Error(message) }))
    await app.inject({ url: '/access', headers: bearer(app.createAccessToken('alice')) })
    t.equal(lines().find(l => l.storeError !== undefined)?.storeError?.message, kept, JSON.stringify(message).replace(/[^\x20-\x7e]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))
    await app.close()
  }
  const named = new Error('x')
  named.name = 'secret@example.com'
  const { app, lines } = await appOn(syncStore(() => { throw named }))
  await app.inject({ url: '/access', headers: bearer(app.createAccessToken('alice')) })
  t.equal(lines().find(l => l.storeError !== undefined)?.storeError?.type, 'Error', 'an error name that is no identifier is not logged')
  await app.close()
})
