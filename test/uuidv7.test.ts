import t from 'tap'
import { uuidv7, uuidv7Time } from '../lib/uuidv7'

// lib/uuidv7.ts: the ids of tokens (jti) and families (fam), dated to the millisecond.

t.test('uuidv7 carries its creation time', async t => {
  const at = Date.UTC(2026, 10, 27, 12, 0, 0, 123)
  const id = uuidv7(at)
  t.equal(uuidv7Time(id), at)
  t.equal(uuidv7Time('not-a-uuid'), undefined)
  t.equal(uuidv7Time(crypto.randomUUID()), undefined, 'a v4 UUID has no time')
  const ids = new Set(Array.from({ length: 5000 }, () => uuidv7(at)))
  t.equal(ids.size, 5000, 'no collisions, even within one millisecond')
})
