import t from 'tap'
import { MemoryStore } from '../../lib/stores/memory'
import { manualClock, storeConformance } from './conformance'

/** MemoryStore keeps expiries in whole seconds, rounded up: its clock starts on a second, as Redis's TTLs count from the write. */
const onASecond = () => manualClock(Math.ceil(Date.now() / 1000) * 1000)

t.test('conformance', async t => {
  storeConformance(t, async clock => new MemoryStore({ now: clock.now }), onASecond)
})

/** 100 short-lived entries of each kind, and a clock moved past them (expiries are whole seconds, rounded up). */
async function expired (): Promise<{ store: MemoryStore, clock: ReturnType<typeof manualClock> }> {
  const clock = onASecond()
  const store = new MemoryStore({ now: clock.now })
  for (let i = 0; i < 100; i++) {
    await store.revokeToken({ sub: 'alice', jti: `short-${i}` }, 0.05)
    await store.redeem({ sub: 'alice', jti: `short-${i}`, fam: `fam-${i}` }, clock.now(), 0.05, 0.05)
  }
  await store.revokeAllSessions('alice', clock.now(), 0.05)
  await store.saveSession('alice', { fam: 'f1', createdAt: 1, lastUsedAt: 1, expiresAt: clock.now() + 50 })
  await clock.advance(1000)
  return { store, clock }
}

t.test('writes sweep expired entries away', async t => {
  const { store } = await expired()
  t.equal(store.size, 100 + 100 + 100 + 1 + 1 + 2, 'jtis, used marks, family subjects, the redeem time, the cut-off, the session and its family')
  t.equal(store.size, 304, 'nothing is swept while nothing is asked: no timer runs')
  for (let i = 0; i < 50; i++) await store.revokeToken({ sub: 'bob', jti: `long-${i}` }, 3600)
  t.equal(store.size, 50, 'a few writes sweep every kind of entry')
})

t.test('reads sweep expired entries away too, a few per call', async t => {
  const { store } = await expired()
  const before = store.size
  await store.status({ sub: 'carol', jti: 'j1' })
  t.ok(store.size < before, 'one read sweeps something')
  t.ok(before - store.size <= 4, 'and no more than a few entries (bounded work per call)')
  for (let i = 0; i < 200; i++) await store.status({ sub: 'carol', jti: `j${i}` })
  t.equal(store.size, 0, 'reads alone sweep every kind of entry')
})

t.test('half a million expired revocations leave memory with reads alone', async t => {
  const clock = manualClock()
  const store = new MemoryStore({ now: clock.now })
  for (let i = 0; i < 500_000; i++) await store.revokeToken({ sub: `u${i % 1000}`, jti: `j${i}` }, 1)
  await store.revokeToken({ sub: 'keep', jti: 'kept' }, 3600)
  await clock.advance(2000)
  // every read visits a few entries of one kind in turn: 500k entries need about 500k * kinds / 4 reads
  for (let i = 0; i < 2_000_000 && store.size > 1; i++) store.statusNow({ sub: 'reader', jti: 'r' })
  t.equal(store.size, 1, 'only the live revocation is left')
  t.equal((await store.status({ sub: 'keep', jti: 'kept' })).revoked, true)
})

t.test('no timer or handle keeps the process alive', async t => {
  const before = process.getActiveResourcesInfo().filter(name => name !== 'TTYWrap')
  const store = new MemoryStore()
  for (let i = 0; i < 1000; i++) await store.revokeToken({ sub: 'alice', jti: `j${i}` }, 3600)
  await store.saveSession('alice', { fam: 'f1', createdAt: 1, lastUsedAt: 1, expiresAt: Date.now() + 60_000 })
  await store.status({ sub: 'alice', jti: 'j1', fam: 'f1' })
  t.strictSame(process.getActiveResourcesInfo().filter(name => name !== 'TTYWrap'), before)
})

t.test('status answers a token it knows nothing about with one shared frozen object', async t => {
  const store = new MemoryStore()
  const first = await store.status({ sub: 'alice', jti: 'j1' })
  t.equal(await store.status({ sub: 'bob', jti: 'j2', fam: 'f2' }), first)
  t.ok(Object.isFrozen(first))
  await store.revokeToken({ sub: 'alice', jti: 'j1' }, 3600)
  t.not(await store.status({ sub: 'alice', jti: 'j1' }), first)
})

t.test('keys keep every (subject, id) pair apart, packed UUIDs included', async t => {
  const store = new MemoryStore()
  const uuid = '0190a5c2-7d3e-7b4f-8a1b-2c3d4e5f6a7b'
  await store.revokeToken({ sub: 'a', jti: uuid }, 3600)
  t.equal(store.statusNow({ sub: 'a', jti: uuid }).revoked, true, 'the revoked token')
  t.equal(store.statusNow({ sub: 'a', jti: uuid.toUpperCase() }).revoked, false, 'the same UUID in upper case is another id')
  t.equal(store.statusNow({ sub: 'ab', jti: uuid }).revoked, false, 'another subject')
  t.equal(store.statusNow({ sub: '', jti: uuid }).revoked, false, 'the empty subject')
  t.equal(store.statusNow({ sub: 'a', jti: uuid.replace(/-/g, '') + '----' }).revoked, false, 'the same digits, dashes elsewhere')
  // a packed key starts with \u0001, a written-out one with the subject's length: none can meet
  const odd = '0190a5c2-7d3e-7b4f-8a1b-2c3d4e5f6a7g'
  await store.revokeToken({ sub: '\u0001', jti: odd }, 3600)
  t.equal(store.statusNow({ sub: '\u0001', jti: odd }).revoked, true, 'a non-hex id is written out')
  t.equal(store.statusNow({ sub: 'a', jti: uuid.slice(0, 35) + 'c' }).revoked, false, 'one digit apart')
  await store.revokeFamily('a', uuid, 3600)
  t.equal(store.statusNow({ sub: 'a', jti: 'j', fam: uuid }).familyRevoked, true, 'a packed family')
  t.equal(store.statusNow({ sub: 'b', jti: 'j', fam: uuid }).familyRevoked, false, 'of that subject only')
})

t.test('an entry lives until its expiry, rounded up to the whole second, never less', async t => {
  const clock = manualClock(Math.ceil(Date.now() / 1000) * 1000 + 400)
  const store = new MemoryStore({ now: clock.now })
  await store.revokeToken({ sub: 'a', jti: 'j' }, 1) // until start + 1 s, kept until the next whole second
  await clock.advance(999)
  t.equal(store.statusNow({ sub: 'a', jti: 'j' }).revoked, true, 'before its time')
  await clock.advance(1)
  t.equal(store.statusNow({ sub: 'a', jti: 'j' }).revoked, true, 'at its time: still kept (rounded up)')
  await clock.advance(599)
  t.equal(store.statusNow({ sub: 'a', jti: 'j' }).revoked, true, 'until the whole second')
  await clock.advance(1)
  t.equal(store.statusNow({ sub: 'a', jti: 'j' }).revoked, false, 'gone at the whole second')
})
