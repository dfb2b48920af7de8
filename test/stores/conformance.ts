import { ALL_CLEAR, type SessionRecord, type TokenStatus, type TokenStore } from '../../lib/stores/types'
const HOUR = 3600

/** Subjects that could break out of a hash tag, look alike once encoded, or not survive UTF-8. */
const ODD_SUBJECTS = [
  'user:1', 'user', 'user:1:jti:x', '{user}', 'user}', '{', '}', '{}', '%7B', '%7D', '%', '%u', '',
  ' ', 'ü', 'u\u0308', '日本語', '😀', '\ud83d', '\ud800', '\ufffd'
]

/**
 * The time a store runs by. MemoryStore takes a clock we move by hand; Redis expires keys by its own
 * clock, so a Redis suite's `advance` really waits (past TTLs of a second: no race with a deadline).
 */
export interface StoreClock {
  now: () => number
  advance: (ms: number) => Promise<void>
}

/** A clock that moves only when told to. */
export function manualClock (start = Date.now()): StoreClock {
  let now = start
  return { now: () => now, advance: async ms => { now += ms } }
}

function status (changes: Partial<TokenStatus>): TokenStatus {
  return { ...ALL_CLEAR, ...changes }
}

/**
 * The behaviour every TokenStore must have. `makeStore` gives a fresh, empty store running by `clock`
 * for each subtest; the suite closes it.
 */
export function storeConformance (t: tap.Test, makeStore: (clock: StoreClock) => Promise<TokenStore>, makeClock: () => StoreClock = manualClock): void {
  let clock = makeClock()
  const session = (fam: string, createdAt: number, extra: Partial<SessionRecord> = {}): SessionRecord =>
    ({ fam, createdAt, lastUsedAt: createdAt, expiresAt: clock.now() + HOUR * 1000, ...extra })

  async function open (t: tap.Test): Promise<TokenStore> {
    clock = makeClock()
    const store = await makeStore(clock)
    t.teardown(async () => await store.close?.())
    return store
  }

  t.test('status of an unknown token is all clear', async t => {
    const store = await open(t)
    t.strictSame(await store.status({ sub: 'alice', jti: 'j1' }), ALL_CLEAR)
    t.strictSame(await store.status({ sub: 'alice', jti: 'j1', fam: 'f1' }), ALL_CLEAR)
    t.strictSame(await store.status({ sub: 'alice', jti: 'j1', fam: undefined }), ALL_CLEAR)
  })

  t.test('revokeToken revokes that jti of that subject only', async t => {
    const store = await open(t)
    await store.revokeToken({ sub: 'alice', jti: 'j1' }, HOUR)
    t.strictSame(await store.status({ sub: 'alice', jti: 'j1' }), status({ revoked: true }))
    t.strictSame(await store.status({ sub: 'alice', jti: 'j1', fam: 'f1' }), status({ revoked: true }))
    t.strictSame(await store.status({ sub: 'alice', jti: 'j2' }), ALL_CLEAR, 'another jti')
    t.strictSame(await store.status({ sub: 'bob', jti: 'j1' }), ALL_CLEAR, 'the same jti of another subject')
  })

  t.test('revokeFamily revokes the tokens of that family and ends its session', async t => {
    const store = await open(t)
    await store.saveSession('alice', session('f1', 1000))
    await store.saveSession('alice', session('f2', 2000))
    await store.saveSession('bob', session('f1', 3000))
    await store.revokeFamily('alice', 'f1', HOUR)
    t.strictSame(await store.status({ sub: 'alice', jti: 'j1', fam: 'f1' }), status({ familyRevoked: true }))
    t.strictSame(await store.status({ sub: 'alice', jti: 'j2', fam: 'f1' }), status({ familyRevoked: true }))
    t.strictSame(await store.status({ sub: 'alice', jti: 'j1', fam: 'f2' }), ALL_CLEAR, 'another family')
    t.strictSame(await store.status({ sub: 'alice', jti: 'j1' }), ALL_CLEAR, 'a token without a family')
    t.strictSame(await store.status({ sub: 'bob', jti: 'j1', fam: 'f1' }), ALL_CLEAR, 'the same family id of another subject')
    t.strictSame((await store.listSessions('alice')).map(s => s.fam), ['f2'])
    t.strictSame((await store.listSessions('bob')).map(s => s.fam), ['f1'])

    await store.saveSession('alice', session('f1', 4000))
    await store.touchSession('alice', 'f1', clock.now(), clock.now() + HOUR * 1000)
    t.strictSame((await store.listSessions('alice')).map(s => s.fam), ['f2'], 'a revoked family stays ended')
  })

  t.test('revokeAllSessions sets a cut-off, keeps the latest one, and ends every session', async t => {
    const store = await open(t)
    await store.saveSession('alice', session('f1', 1000))
    await store.saveSession('alice', session('f2', 2000))
    await store.saveSession('bob', session('f3', 3000))
    await store.revokeAllSessions('alice', 2_000_000, HOUR)
    t.strictSame(await store.status({ sub: 'alice', jti: 'j1', fam: 'f1' }), status({ revokedBefore: 2_000_000 }))
    t.strictSame(await store.status({ sub: 'bob', jti: 'j1', fam: 'f3' }), ALL_CLEAR, 'another subject')
    t.strictSame(await store.listSessions('alice'), [])
    t.strictSame((await store.listSessions('bob')).map(s => s.fam), ['f3'])

    await store.revokeAllSessions('alice', 1_000_000, HOUR)
    t.equal((await store.status({ sub: 'alice', jti: 'j1' })).revokedBefore, 2_000_000, 'an earlier cut-off does not win')
    await store.revokeAllSessions('alice', 3_000_000, HOUR)
    t.equal((await store.status({ sub: 'alice', jti: 'j1' })).revokedBefore, 3_000_000, 'a later cut-off does')

    await store.saveSession('alice', session('f4', 4000))
    t.strictSame((await store.listSessions('alice')).map(s => s.fam), ['f4'], 'sessions begun afterwards live')
  })

  t.test('redeem marks a token used once and answers its status from before the call', async t => {
    const store = await open(t)
    const at = clock.now()
    t.strictSame(await store.redeem({ sub: 'alice', jti: 'j1', fam: 'f1' }, at, HOUR, HOUR), ALL_CLEAR, 'the first call makes the mark')
    t.strictSame(await store.redeem({ sub: 'alice', jti: 'j1', fam: 'f1' }, at + 5, HOUR, HOUR), status({ consumedAt: at }), 'later calls see the first mark')
    t.strictSame(await store.status({ sub: 'alice', jti: 'j1', fam: 'f1' }), status({ consumedAt: at }))
    t.strictSame(await store.redeem({ sub: 'alice', jti: 'j2' }, at + 1, HOUR, HOUR), ALL_CLEAR, 'another jti')
    t.strictSame(await store.redeem({ sub: 'bob', jti: 'j1' }, at + 2, HOUR, HOUR), ALL_CLEAR, 'the same jti of another subject')
    t.strictSame(await store.status({ sub: 'bob', jti: 'j1' }), status({ consumedAt: at + 2 }))
  })

  t.test('redeem reads every revocation in the same step', async t => {
    const store = await open(t)
    const at = clock.now()
    await store.revokeToken({ sub: 'alice', jti: 'j1' }, HOUR)
    await store.revokeFamily('alice', 'f1', HOUR)
    await store.revokeAllSessions('bob', 5000, HOUR)
    t.strictSame(await store.redeem({ sub: 'alice', jti: 'j1', fam: 'f9' }, at, HOUR, HOUR), status({ revoked: true }), 'a revoked jti')
    t.strictSame(await store.redeem({ sub: 'alice', jti: 'j2', fam: 'f1' }, at, HOUR, HOUR), status({ familyRevoked: true }), 'a revoked family')
    t.strictSame(await store.redeem({ sub: 'bob', jti: 'j1', fam: 'f2' }, at, HOUR, HOUR), status({ revokedBefore: 5000 }), 'a subject cut-off')
  })

  t.test('a cut-off covers the subject\'s latest redeem, whatever clock dated it', async t => {
    const store = await open(t)
    const at = clock.now()
    await store.redeem({ sub: 'alice', jti: 'j1', fam: 'f1' }, at + 10_000, HOUR, HOUR)
    await store.redeem({ sub: 'alice', jti: 'j2', fam: 'f1' }, at + 5_000, HOUR, HOUR)
    t.equal(await store.revokeAllSessions('alice', at, HOUR), at + 10_000, 'revokeAllSessions answers the cut-off in force')
    t.equal((await store.status({ sub: 'alice', jti: 'j3' })).revokedBefore, at + 10_000, 'the latest redeem time wins over an earlier cut-off')
    t.equal(await store.revokeAllSessions('bob', at, HOUR), at)
    t.equal((await store.status({ sub: 'bob', jti: 'j3' })).revokedBefore, at, 'a subject with no redeem keeps the given cut-off')
    await store.revokeAllSessions('alice', at + 20_000, HOUR)
    t.equal((await store.status({ sub: 'alice', jti: 'j3' })).revokedBefore, at + 20_000, 'a later cut-off wins')
  })

  t.test('a cut-off covers the latest login recorded by recordFamily or saveSession, never moved back', async t => {
    const store = await open(t)
    const at = clock.now()
    await store.recordFamily('alice', 'f1', HOUR, at + 7_000)
    await store.recordFamily('alice', 'f2', HOUR, at + 3_000)
    t.equal(await store.revokeAllSessions('alice', at, HOUR), at + 7_000, 'recordFamily: a pair dated ahead of the revoking clock is covered')
    await store.saveSession('bob', session('f3', at + 9_000))
    await store.saveSession('bob', session('f4', at + 1_000))
    t.equal(await store.revokeAllSessions('bob', at, HOUR), at + 9_000, 'saveSession: a session dated ahead is covered')
    t.equal((await store.status({ sub: 'bob', jti: 'j1' })).revokedBefore, at + 9_000)
  })

  t.test('concurrent redeems of one token: exactly one makes the mark', async t => {
    const store = await open(t)
    const at = clock.now()
    const ref = { sub: 'alice', jti: 'j1', fam: 'f1' }
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.redeem(ref, at + i, HOUR, HOUR)))
    const winner = results.findIndex(r => r.consumedAt === 0)
    t.equal(results.filter(r => r.consumedAt === 0).length, 1, 'one call made the mark')
    t.ok(results.every((r, i) => i === winner || r.consumedAt === at + winner), 'the others see the winner\'s mark')
    t.equal((await store.status(ref)).consumedAt, at + winner)
  })

  t.test('sessions are listed oldest first with their fields as saved', async t => {
    const store = await open(t)
    const now = clock.now()
    const a = session('fa', now - 3000)
    const b = session('fb', now - 2000, { userAgent: 'curl/8' })
    const c = session('fc', now - 1000, { lastUsedAt: now - 500, userAgent: 'Mozilla/5.0 (X11) «ü»', ip: '::1' })
    for (const record of [c, a, b]) await store.saveSession('alice', record)
    t.strictSame(await store.listSessions('alice'), [a, b, c])
    t.strictSame(await store.listSessions('bob'), [], 'another subject has none')

    const replaced = { ...a, lastUsedAt: now, ip: '10.0.0.1' }
    await store.saveSession('alice', replaced)
    t.strictSame(await store.listSessions('alice'), [replaced, b, c], 'saving a family again replaces its record')

    await store.saveSession('alice', session('fd', now - 4000, { expiresAt: now - 1 }))
    t.strictSame(await store.listSessions('alice'), [replaced, b, c], 'an expired session is not listed')
  })

  t.test('touchSession updates a live session and never brings one back', async t => {
    const store = await open(t)
    const now = clock.now()
    const f1 = session('f1', now - 2000, { userAgent: 'ua', ip: '::1' })
    const f2 = session('f2', now - 1000)
    await store.saveSession('alice', f1)
    await store.saveSession('alice', f2)
    await store.touchSession('alice', 'f1', now, now + 2 * HOUR * 1000)
    t.strictSame(await store.listSessions('alice'), [{ ...f1, lastUsedAt: now, expiresAt: now + 2 * HOUR * 1000 }, f2])

    await store.touchSession('alice', 'f9', now, now + HOUR * 1000)
    await store.touchSession('bob', 'f1', now, now + HOUR * 1000)
    t.equal((await store.listSessions('alice')).length, 2, 'touching an unknown session records nothing')
    t.strictSame(await store.listSessions('bob'), [])

    await store.revokeFamily('alice', 'f1', HOUR)
    await store.touchSession('alice', 'f1', now + 1, now + HOUR * 1000)
    t.strictSame(await store.listSessions('alice'), [f2], 'a revoked session stays gone')
    await store.revokeAllSessions('alice', now, HOUR)
    await store.touchSession('alice', 'f2', now + 1, now + HOUR * 1000)
    t.strictSame(await store.listSessions('alice'), [], 'so do the sessions of a revoked subject')
  })

  t.test('familySubject names the subject recordFamily, saveSession or redeem recorded', async t => {
    const store = await open(t)
    t.equal(await store.familySubject('f1'), null)
    await store.saveSession('alice', session('f1', 1000))
    await store.redeem({ sub: 'bob', jti: 'j1', fam: 'f2' }, clock.now(), HOUR, HOUR)
    await store.redeem({ sub: 'carol', jti: 'j1' }, clock.now(), HOUR, HOUR)
    await store.recordFamily('dave', 'f3', HOUR, clock.now())
    t.equal(await store.familySubject('f1'), 'alice')
    t.equal(await store.familySubject('f2'), 'bob')
    t.equal(await store.familySubject('f3'), 'dave')
    t.equal(await store.familySubject('j1'), null)
  })

  t.test('entries expire with what they name', async t => {
    const store = await open(t)
    const now = clock.now()
    await store.revokeToken({ sub: 'alice', jti: 'j1' }, 1)
    await store.revokeToken({ sub: 'alice', jti: 'j9' }, HOUR)
    await store.revokeFamily('alice', 'f1', 1)
    await store.revokeAllSessions('bob', now, 1)
    await store.redeem({ sub: 'alice', jti: 'j2', fam: 'f2' }, now, 1, 1)
    await store.recordFamily('erin', 'f6', 1, now)
    await store.recordFamily('erin', 'f7', HOUR, now)
    await store.recordFamily('erin', 'f7', 1, now)
    await store.saveSession('carol', session('f3', now, { expiresAt: now + 1000 }))
    await store.saveSession('carol', session('f4', now, { expiresAt: now + 60_000 }))
    await store.saveSession('dave', session('f5', now, { expiresAt: now + 1000 }))
    await store.touchSession('dave', 'f5', now, now + 60_000)
    t.strictSame(await store.status({ sub: 'alice', jti: 'j1', fam: 'f1' }), status({ revoked: true, familyRevoked: true }))
    t.equal(await store.familySubject('f2'), 'alice')
    t.equal((await store.listSessions('carol')).length, 2)

    await clock.advance(1200)
    t.strictSame(await store.status({ sub: 'alice', jti: 'j1', fam: 'f1' }), ALL_CLEAR, 'revoked token and family')
    t.strictSame(await store.status({ sub: 'bob', jti: 'j1' }), ALL_CLEAR, 'subject cut-off')
    t.strictSame(await store.status({ sub: 'alice', jti: 'j2' }), ALL_CLEAR, 'redeem mark')
    const later = clock.now()
    t.strictSame(await store.redeem({ sub: 'alice', jti: 'j2' }, later, 1, HOUR), ALL_CLEAR)
    await store.revokeAllSessions('frank', 1, HOUR)
    await store.redeem({ sub: 'frank', jti: 'j1' }, later, 1, HOUR)
    await clock.advance(1200)
    await store.revokeAllSessions('frank', 1, HOUR)
    t.equal((await store.status({ sub: 'frank', jti: 'j5' })).revokedBefore, later, 'the redeem time outlived the mark, as told')
    t.equal(await store.familySubject('f2'), null, 'family subject')
    t.equal(await store.familySubject('f6'), null, 'recorded family')
    t.equal(await store.familySubject('f7'), 'erin', 'a family record is never shortened')
    t.equal(await store.familySubject('f3'), null)
    t.strictSame((await store.listSessions('carol')).map(s => s.fam), ['f4'], 'session')
    t.strictSame((await store.listSessions('dave')).map(s => s.fam), ['f5'], 'a touched session lives on')
    t.equal(await store.familySubject('f5'), 'dave')
    t.strictSame(await store.status({ sub: 'alice', jti: 'j9' }), status({ revoked: true }), 'longer-lived entries stay')
  })

  t.test('subjects with odd characters work and never collide', async t => {
    const store = await open(t)
    const at = clock.now()
    for (const [i, sub] of ODD_SUBJECTS.entries()) {
      await store.revokeToken({ sub, jti: `only-${i}` }, HOUR)
      t.strictSame(await store.redeem({ sub, jti: 'same', fam: `fam-${i}` }, at + i, HOUR, HOUR), ALL_CLEAR, `redeem for ${JSON.stringify(sub)}`)
      await store.saveSession(sub, session('same', 1000 + i))
    }
    await store.revokeFamily('{', 'same', HOUR)
    await store.revokeAllSessions('%7B', 0, HOUR)

    for (const [i, sub] of ODD_SUBJECTS.entries()) {
      const name = JSON.stringify(sub)
      for (const [j] of ODD_SUBJECTS.entries()) {
        const { revoked } = await store.status({ sub, jti: `only-${j}` })
        if (revoked !== (i === j)) t.fail(`${name}: only-${j} revoked: ${revoked}`)
      }
      t.strictSame(await store.status({ sub, jti: 'same', fam: 'same' }), status({
        consumedAt: at + i,
        familyRevoked: sub === '{',
        revokedBefore: sub === '%7B' ? at + i : 0
      }), `status for ${name}`)
      const expected = sub === '{' || sub === '%7B' ? [] : [1000 + i]
      t.strictSame((await store.listSessions(sub)).map(s => s.createdAt), expected, `sessions of ${name}`)
      t.equal(await store.familySubject(`fam-${i}`), sub, `familySubject for ${name}`)
    }
  })
}
