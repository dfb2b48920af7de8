import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import authx, { errors, isAuthxError, MemoryStore, RedisStore } from '../lib/index'
import { keyPair } from './helpers/app'
import { authError } from '../lib/errors'

const expected: Record<string, [number, string | undefined]> = {
  FST_AUTHX_MISSING_TOKEN: [401, 'Bearer'],
  FST_AUTHX_MALFORMED_HEADER: [400, 'Bearer error="invalid_request"'],
  FST_AUTHX_INVALID_TOKEN: [401, 'Bearer error="invalid_token"'],
  FST_AUTHX_TOKEN_EXPIRED: [401, 'Bearer error="invalid_token", error_description="The token has expired"'],
  FST_AUTHX_ACCESS_TOKEN_REQUIRED: [401, 'Bearer error="invalid_token", error_description="An access token is required"'],
  FST_AUTHX_REFRESH_TOKEN_REQUIRED: [401, 'Bearer error="invalid_token", error_description="A refresh token is required"'],
  FST_AUTHX_FRESH_TOKEN_REQUIRED: [401, 'Bearer error="insufficient_user_authentication", error_description="A fresh token is required"'],
  FST_AUTHX_CSRF_MISSING: [401, 'Bearer error="invalid_token", error_description="The CSRF token is missing"'],
  FST_AUTHX_CSRF_MISMATCH: [401, 'Bearer error="invalid_token", error_description="The CSRF token does not match"'],
  FST_AUTHX_REVOKED_TOKEN: [401, 'Bearer error="invalid_token", error_description="The token has been revoked"'],
  FST_AUTHX_REFRESH_TOKEN_REUSED: [401, 'Bearer error="invalid_token", error_description="The refresh token was already used"'],
  FST_AUTHX_INSUFFICIENT_SCOPE: [403, 'Bearer error="insufficient_scope"'],
  FST_AUTHX_STORE_UNAVAILABLE: [503, undefined],
  FST_AUTHX_UNKNOWN_FAMILY: [404, undefined],
  FST_AUTHX_JWKS_UNAVAILABLE: [503, undefined],
  FST_AUTHX_SUBJECT_NOT_FOUND: [401, 'Bearer error="invalid_token", error_description="The subject was not found"']
}

t.test('every code: status, challenge, a fixed message, no stack on client errors', async t => {
  const programming = ['FST_AUTHX_BAD_OPTIONS', 'FST_AUTHX_BAD_ARGUMENT', 'FST_AUTHX_VERIFY_ONLY', 'FST_AUTHX_ROTATION_OFF', 'FST_AUTHX_GET_SUBJECT_MISSING', 'FST_AUTHX_IOREDIS_MISSING', 'FST_AUTHX_SUBJECT_LOAD_FAILED']
  t.same(Object.keys(errors).sort(), [...Object.keys(expected), ...programming].sort(), 'the table is complete')
  for (const [code, [status, challenge]] of Object.entries(expected)) {
    const err = authError(code as any)
    t.equal(err.code, code)
    t.equal(err.statusCode, status, `${code} status`)
    t.equal(err.headers?.['www-authenticate'], challenge, `${code} challenge`)
    t.type(err.message, 'string')
    t.ok(err.message.length > 0)
    t.ok(err instanceof errors[code as keyof typeof errors], `${code} instanceof its constructor`)
  }
  t.equal(new errors.FST_AUTHX_BAD_OPTIONS('x: y').message, 'fastify-authx: bad option x: y')
  t.equal(new errors.FST_AUTHX_VERIFY_ONLY().statusCode, 500, 'a programming error: createAccessToken on a verify-only instance')
})

t.test('every error the plugin throws carries a code from the table, and isAuthxError says so', async t => {
  const app = Fastify()
  await app.register(authx, { secret: 'x'.repeat(32) })
  app.get('/cookie', async (_request, reply) => reply.setAccessCookies(''))
  const verifier = Fastify()
  await verifier.register(authx, { algorithm: 'ES256', publicKey: keyPair('ES256').publicKey })

  const thrown = (fn: () => unknown): unknown => { try { fn(); return undefined } catch (err) { return err } }
  const rejected = async (p: PromiseLike<unknown>): Promise<unknown> => { try { await p; return undefined } catch (err) { return err } }
  const cases: Array<[string, unknown, string]> = [
    ['createAccessToken on a verify-only instance', thrown(() => verifier.createAccessToken('a')), 'FST_AUTHX_VERIFY_ONLY'],
    ['createTokenPair on a verify-only instance', thrown(() => verifier.createTokenPair('a')), 'FST_AUTHX_VERIFY_ONLY'],
    ['an empty subject', thrown(() => app.createAccessToken('')), 'FST_AUTHX_BAD_ARGUMENT'],
    ['scopes that are not strings', thrown(() => app.createAccessToken('a', { scopes: [1 as unknown as string] })), 'FST_AUTHX_BAD_ARGUMENT'],
    ['data setting a registered claim', thrown(() => app.createRefreshToken('a', { data: { jti: 'x' } })), 'FST_AUTHX_BAD_ARGUMENT'],
    ['headers setting alg', thrown(() => app.createAccessToken('a', { headers: { kid: 'x' } })), 'FST_AUTHX_BAD_ARGUMENT'],
    ['revokeToken with a bad payload', await rejected(app.authx.revokeToken({} as any)), 'FST_AUTHX_BAD_ARGUMENT'],
    ['rotateRefreshToken without rotation', await rejected(app.authx.rotateRefreshToken(app.authx.verifyToken(app.createRefreshToken('a')))), 'FST_AUTHX_ROTATION_OFF'],
    ['RedisStore without client or url', thrown(() => new RedisStore({} as any)), 'FST_AUTHX_BAD_ARGUMENT'],
    ['MemoryStore with a now that is no function', thrown(() => new MemoryStore({ now: 5 as any })), 'FST_AUTHX_BAD_ARGUMENT'],
    ['revokeFamily with neither a family nor a jti', await rejected(app.authx.revokeFamily({ sub: 'a' } as any)), 'FST_AUTHX_BAD_ARGUMENT'],
    ['a bad option', await rejected(Fastify().register(authx, { secret: '' }).ready()), 'FST_AUTHX_BAD_OPTIONS'],
    ['a bad guard option', thrown(() => app.authx.guard({ type: 'id' as 'access' })), 'FST_AUTHX_BAD_OPTIONS'],
    ['a bad token', thrown(() => app.authx.verifyToken('a.b.c')), 'FST_AUTHX_INVALID_TOKEN']
  ]
  for (const [what, err, code] of cases) {
    t.equal((err as { code?: string })?.code, code, `${what}: ${code}`)
    t.ok(isAuthxError(err), `${what}: isAuthxError`)
    t.notMatch((err as Error).message, /undefined/, `${what}: a complete message`)
  }
  t.ok(thrown(() => app.createAccessToken('')) instanceof TypeError, 'argument errors are still TypeErrors')

  const res = await app.inject({ url: '/cookie' })
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'FST_AUTHX_BAD_ARGUMENT', 'reply.setAccessCookies without a token')

  t.notOk(isAuthxError(new Error('x')), 'a plain Error')
  t.notOk(isAuthxError({ code: 'FST_AUTHX_INVALID_TOKEN', message: 'x' }), 'a look-alike object')
  t.notOk(isAuthxError(Object.assign(new Error('x'), { code: 'FST_AUTHX_INVALID_TOKEN' })), 'an Error with a borrowed code')
  t.notOk(isAuthxError(null))
  const guarded = await app.inject({ url: '/missing' })
  t.equal(guarded.statusCode, 404)
  await app.close(); await verifier.close()
})

t.test('the README error table lists every code', async t => {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8')
  for (const code of Object.keys(errors)) t.match(readme, new RegExp('\\| `' + code + '` \\|'), `${code} in the README table`)
})
