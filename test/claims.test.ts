import t from 'tap'
import { cloneClaims, setClaim } from '../lib/claims'

t.test('setClaim keeps __proto__ as data', async t => {
  const target: Record<string, unknown> = {}
  setClaim(target, '__proto__', { polluted: true })
  t.equal(Object.getPrototypeOf(target), Object.prototype, 'the prototype is untouched')
  t.same(Object.getOwnPropertyDescriptor(target, '__proto__')?.value, { polluted: true }, 'an own data property')
  t.equal(({} as any).polluted, undefined)
})

t.test('cloneClaims is deep and pollutes nothing', async t => {
  const original = JSON.parse('{"sub":"a","scopes":["read"],"data":{"tags":["x",{"y":1}]},"__proto__":{"polluted":true},"n":null}')
  const copy = cloneClaims(original)
  t.same(copy, original)
  copy.scopes.push('admin')
  copy.data.tags[1].y = 2
  t.same(original.scopes, ['read'], 'arrays are copied')
  t.equal(original.data.tags[1].y, 1, 'nested objects are copied')
  t.equal(Object.getPrototypeOf(copy), Object.prototype)
  t.equal(({} as any).polluted, undefined)
})
