import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync, symlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'

// The built package, as another project sees it: require() and import from outside this folder.
const root = join(__dirname, '..', '..')

t.test('require and import from another folder', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'authx-consumer-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const modules = join(dir, 'node_modules')
  execFileSync('mkdir', ['-p', modules])
  symlinkSync(root, join(modules, 'fastify-authx'))
  symlinkSync(join(root, 'node_modules', 'fastify'), join(modules, 'fastify'))
  writeFileSync(join(dir, 'cjs.cjs'), `
    const authx = require('fastify-authx')
    const { authx: named, default: dflt, errors, MemoryStore, TokenPayloadSchema } = require('fastify-authx')
    const Fastify = require('fastify')
    ;(async () => {
      const app = Fastify()
      await app.register(authx, { secret: 'x'.repeat(32) })
      app.get('/p', { onRequest: app.requireAccess }, async req => req.tokenPayload.sub)
      const res = await app.inject({ url: '/p', headers: { authorization: 'Bearer ' + app.createAccessToken('cjs') } })
      console.log(JSON.stringify({ fn: typeof authx, same: named === authx && dflt === authx, body: res.body,
        code: typeof errors.FST_AUTHX_MISSING_TOKEN, store: typeof MemoryStore, schema: TokenPayloadSchema.type }))
    })()
  `)
  writeFileSync(join(dir, 'esm.mjs'), `
    import authx, { authx as named, errors } from 'fastify-authx'
    import Fastify from 'fastify'
    const app = Fastify()
    await app.register(authx, { secret: 'x'.repeat(32) })
    app.get('/p', { onRequest: app.requireAccess }, async req => req.tokenPayload.sub)
    const res = await app.inject({ url: '/p', headers: { authorization: 'Bearer ' + app.createAccessToken('esm') } })
    console.log(JSON.stringify({ same: named === authx, body: res.body, code: typeof errors.FST_AUTHX_INVALID_TOKEN }))
  `)
  const cjs = JSON.parse(execFileSync(process.execPath, ['cjs.cjs'], { cwd: dir }).toString())
  t.same(cjs, { fn: 'function', same: true, body: 'cjs', code: 'function', store: 'function', schema: 'object' })
  const esm = JSON.parse(execFileSync(process.execPath, ['esm.mjs'], { cwd: dir }).toString())
  t.same(esm, { same: true, body: 'esm', code: 'function' })
})
