import t from 'tap'
import { requireScopes } from '../lib/scopes'

t.test('scope matching', async t => {
  const all = requireScopes(['orders:read', 'profile'], true)
  const any = requireScopes(['orders:read', 'profile'], false)
  t.equal(all(['orders:read', 'profile']), true)
  t.equal(all(['orders:*', 'profile']), true)
  t.equal(all(['orders:read']), false)
  t.equal(any(['profile']), true)
  t.equal(any(['orders:write']), false)
  t.equal(any(undefined), false, 'no scopes claim')
  t.equal(any('profile'), false, 'not a list')
  t.equal(requireScopes(['a:b:c'], true)(['a:*']), true, 'deep wildcard')
  t.equal(requireScopes(['a'], true)(['a:*']), true, 'ns:* covers ns')
  t.equal(requireScopes(['ab'], true)(['a:*']), false, 'no prefix matching without the colon')
  t.equal(requireScopes(['a:b'], true)(['a:b:*']), true, 'a:b:* covers a:b')
  t.equal(requireScopes(['A:b'], true)(['a:*']), false, 'case-sensitive')
})
