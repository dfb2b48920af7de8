import t from 'tap'
import { MemoryStore } from '../../lib/stores/memory'
import { storeConformance } from './conformance'

t.test('conformance', async t => {
  storeConformance(t, async () => new MemoryStore())
})

t.test('writes sweep expired entries away', async t => {
  const store = new MemoryStore()
  for (let i = 0; i < 100; i++) {
    await store.revokeToken({ sub: 'alice', jti: `short-${i}` }, 0.05)
    await store.consume({ sub: 'alice', jti: `short-${i}`, fam: `fam-${i}` }, Date.now(), 0.05)
  }
  await store.revokeSubject('alice', Date.now(), 0.05)
  await store.saveSession('alice', { fam: 'f1', createdAt: 1, lastUsedAt: 1, expiresAt: Date.now() + 50 })
  t.equal(store.size, 100 + 100 + 100 + 1 + 2, 'jtis, used marks, family subjects, the cut-off, the session and its family')

  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(store.size, 303, 'nothing is swept without writes: no timer runs')
  for (let i = 0; i < 50; i++) await store.revokeToken({ sub: 'bob', jti: `long-${i}` }, 3600)
  t.equal(store.size, 50, 'a few writes sweep every kind of entry')
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
